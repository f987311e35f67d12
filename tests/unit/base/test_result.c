#include <criterion/criterion.h>
#include <string.h>

#include "base/result.h"

Test(result, names_are_stable)
{
	cr_assert_str_eq(sm_result_str(SM_OK), "ok");
	cr_assert_str_eq(sm_result_str(SM_AGAIN), "again");
	cr_assert_str_eq(sm_result_str(SM_ERR_BOMB), "bomb");
	cr_assert_str_eq(sm_result_str(12345), "unknown");
}
