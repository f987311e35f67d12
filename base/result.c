#include "base/result.h"

const char *sm_result_str(int r)
{
	switch (r) {
	case SM_OK: return "ok";
	case SM_AGAIN: return "again";
	case SM_ERR_INVALID: return "invalid";
	case SM_ERR_LIMIT: return "limit";
	case SM_ERR_NOMEM: return "nomem";
	case SM_ERR_PROTOCOL: return "protocol";
	case SM_ERR_TRUNCATED: return "truncated";
	case SM_ERR_UNSUPPORTED: return "unsupported";
	case SM_ERR_BOMB: return "bomb";
	case SM_ERR_STATE: return "state";
	case SM_ERR_IO: return "io";
	case SM_ERR_TIMEOUT: return "timeout";
	case SM_ERR_UTF8: return "utf8";
	}
	return "unknown";
}
