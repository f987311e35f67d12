/* Anti-hijack (XSSI guard) prefix sanitizer.
 *
 * JSON endpoints often prepend a guard so the body cannot run as a script:
 * `)]}'` or `)]}',` (each optionally followed by "\n" or "\r\n"),
 * `while(1);`, `for(;;);`, `{}&&`, plus prefixes configured at init. The
 * sanitizer reports how many leading bytes to strip and which guard matched.
 *
 * Leading JSON whitespace (SP, HT, CR, LF), at most SM_ANTIHIJACK_MAX_WS
 * bytes, may precede a guard; it is stripped with the guard. A payload with
 * no guard is never touched (strip length 0). When guards overlap the
 * longest match wins (`)]}',` over `)]}'`).
 *
 * Incremental use: with final=false the scan returns SM_AGAIN while the bytes
 * seen so far are a strict prefix of a possible match (so a guard split across
 * chunks is still found); the caller retries with more bytes or final=true.
 * The decision needs at most sm_antihijack_window() bytes.
 */
#ifndef SM_DECODE_ANTIHIJACK_H
#define SM_DECODE_ANTIHIJACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SM_ANTIHIJACK_MAX_WS     16 /* whitespace bytes allowed before a guard */
#define SM_ANTIHIJACK_MAX_EXTRA  8  /* configurable extra prefixes */
#define SM_ANTIHIJACK_MAX_PREFIX 32 /* bytes per extra prefix */

struct sm_antihijack {
	size_t n_extra;
	size_t extra_len[SM_ANTIHIJACK_MAX_EXTRA];
	char extra[SM_ANTIHIJACK_MAX_EXTRA][SM_ANTIHIJACK_MAX_PREFIX];
};

/* Result of a scan. */
struct sm_antihijack_match {
	bool sanitized;     /* a guard was found */
	size_t strip;       /* leading bytes to drop (whitespace + guard + newline) */
	const char *prefix; /* the guard text as configured ("" when none) */
	int index;          /* 0..4 built-in in the order above, 5.. extra, -1 none */
};

/* Copies up to SM_ANTIHIJACK_MAX_EXTRA extra prefixes (1..MAX_PREFIX bytes,
 * matched exactly, no newline handling). Returns SM_OK or SM_ERR_INVALID
 * (too many, empty or too long). extra may be NULL when n_extra is 0. */
int sm_antihijack_init(struct sm_antihijack *a, const char *const *extra, size_t n_extra);

/* Scans p[0..n). Returns SM_OK with *m filled (m->sanitized tells whether
 * anything is to be stripped), or SM_AGAIN when final is false and more bytes
 * could change the answer. */
int sm_antihijack_scan(const struct sm_antihijack *a, const uint8_t *p, size_t n, bool final,
                       struct sm_antihijack_match *m);

/* Bytes after which a scan never returns SM_AGAIN. */
size_t sm_antihijack_window(const struct sm_antihijack *a);

#endif
