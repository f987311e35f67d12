/* One result convention for the whole codebase.
 *
 * Functions return SM_OK (0) on success, SM_AGAIN when they need more input
 * or would block, or a negative sm_result. Parsers that consume input return
 * the number of bytes consumed (>= 0) or a negative sm_result.
 * Append-only: values may be logged and compared across versions. */
#ifndef SM_BASE_RESULT_H
#define SM_BASE_RESULT_H

enum sm_result {
	SM_OK = 0,
	SM_AGAIN = 1,            /* need more bytes, or the operation would block */
	SM_ERR_INVALID = -1,     /* malformed input */
	SM_ERR_LIMIT = -2,       /* a configured bound was hit */
	SM_ERR_NOMEM = -3,       /* allocation or pool exhausted */
	SM_ERR_PROTOCOL = -4,    /* well-formed bytes that break a protocol rule */
	SM_ERR_TRUNCATED = -5,   /* input ended inside a unit (message, frame) */
	SM_ERR_UNSUPPORTED = -6, /* valid but not handled by this build */
	SM_ERR_BOMB = -7,        /* decoder output budget exceeded */
	SM_ERR_STATE = -8,       /* call not valid in the object's current state */
	SM_ERR_IO = -9,          /* syscall failure (errno kept by the caller) */
	SM_ERR_TIMEOUT = -10,    /* a deadline passed */
	SM_ERR_UTF8 = -11,       /* text that is not valid UTF-8 */
};

/* Stable lower-case name for logs and events ("ok", "again", "invalid"...). */
const char *sm_result_str(int r);

#endif
