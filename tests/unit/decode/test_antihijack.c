#include <criterion/criterion.h>
#include <string.h>

#include "base/result.h"
#include "decode/antihijack.h"

struct row {
	const char *in;
	size_t strip; /* 0: untouched */
	int index;
};

static const struct row rows[] = {
        {")]}'\n{\"a\":1}", 5, 0},
        {")]}'\r\n[1]", 6, 0},
        {")]}'[1]", 4, 0},
        {")]}'\r[1]", 4, 0},
        {")]}',\n[1]", 6, 1},
        {")]}',\r\n[1]", 7, 1},
        {")]}',[1]", 5, 1},
        {"while(1);{\"a\":1}", 9, 2},
        {"for(;;);[]", 8, 3},
        {"{}&&{\"x\":2}", 4, 4},
        {"  \n)]}'\n{}", 8, 0},
        {"\t\r\nwhile(1);[]", 12, 2},
        {"{\"a\":1}", 0, -1},
        {"[1,2]", 0, -1},
        {")]}", 0, -1},
        {")]} '", 0, -1},
        {"while(1)", 0, -1},
        {"for(;;)", 0, -1},
        {"{}&", 0, -1},
        {"{}", 0, -1},
        {"", 0, -1},
        {"   ", 0, -1},
        {"                 )]}'\n[]", 0, -1}, /* 17 spaces: over the whitespace bound */
        {"                )]}'\n[]", 21, 0},  /* 16 spaces: allowed */
        {"x)]}'", 0, -1},
        {"AB-GUARD{}", 8, 5},
        {"AB-GUAR{}", 0, -1},
};

Test(antihijack, table_final)
{
	struct sm_antihijack a;
	const char *extra[] = {"AB-GUARD"};
	cr_assert_eq(sm_antihijack_init(&a, extra, 1), SM_OK);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sm_antihijack_match m;
		const uint8_t *p = (const uint8_t *)rows[i].in;
		cr_assert_eq(sm_antihijack_scan(&a, p, strlen(rows[i].in), true, &m), SM_OK);
		cr_assert_eq(m.strip, rows[i].strip, "row %zu (%s): strip %zu", i, rows[i].in,
		             m.strip);
		cr_assert_eq(m.sanitized, rows[i].strip > 0);
		cr_assert_eq(m.index, rows[i].index, "row %zu", i);
		if (m.sanitized)
			cr_assert(strstr(rows[i].in, m.prefix) != NULL);
		else
			cr_assert_str_eq(m.prefix, "");
	}
}

/* Fed a growing prefix with final=false, the first non-AGAIN answer must
 * equal the final answer: split guards are still found. */
Test(antihijack, incremental_matches_final)
{
	struct sm_antihijack a;
	const char *extra[] = {"AB-GUARD"};
	cr_assert_eq(sm_antihijack_init(&a, extra, 1), SM_OK);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const uint8_t *p = (const uint8_t *)rows[i].in;
		size_t n = strlen(rows[i].in);
		struct sm_antihijack_match m;
		int r = SM_AGAIN;
		size_t k = 0;
		for (; k <= n && r == SM_AGAIN; k++)
			r = sm_antihijack_scan(&a, p, k, k == n, &m);
		cr_assert_eq(r, SM_OK);
		cr_assert_leq(k - 1, sm_antihijack_window(&a));
		cr_assert_eq(m.strip, rows[i].strip, "row %zu incremental", i);
	}
}

Test(antihijack, init_limits)
{
	struct sm_antihijack a;
	const char *empty[] = {""};
	cr_assert_eq(sm_antihijack_init(&a, empty, 1), SM_ERR_INVALID);
	const char *longp[] = {"0123456789012345678901234567890123456789"};
	cr_assert_eq(sm_antihijack_init(&a, longp, 1), SM_ERR_INVALID);
	const char *many[9] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
	cr_assert_eq(sm_antihijack_init(&a, many, 9), SM_ERR_INVALID);
	cr_assert_eq(sm_antihijack_init(&a, NULL, 0), SM_OK);
}
