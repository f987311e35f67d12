/* Minimal DER writer and reader for the certificates we forge.
 *
 * Writer: into caller memory; nested constructed values are opened with
 * begin() and closed with end(), which moves the content down so every
 * length uses its shortest form (DER). Any overflow or misuse sets err and
 * turns later calls into no-ops; sm_der_finish() reports it once.
 *
 * Reader: bounded TLV walker; never reads past its window. Only definite
 * lengths up to 4 bytes; single-byte tags (all X.509 needs). */
#ifndef SM_TLS_DER_H
#define SM_TLS_DER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SM_DER_MAX_DEPTH 8

#define SM_DER_BOOLEAN      0x01
#define SM_DER_INTEGER      0x02
#define SM_DER_BIT_STRING   0x03
#define SM_DER_OCTET_STRING 0x04
#define SM_DER_NULL         0x05
#define SM_DER_OID          0x06
#define SM_DER_UTF8         0x0c
#define SM_DER_PRINTABLE    0x13
#define SM_DER_UTC_TIME     0x17
#define SM_DER_GEN_TIME     0x18
#define SM_DER_SEQUENCE     0x30
#define SM_DER_SET          0x31

struct sm_der_w {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool err;
	int depth;
	size_t open[SM_DER_MAX_DEPTH]; /* offset of each open value's tag */
};

void sm_der_w_init(struct sm_der_w *w, uint8_t *buf, size_t cap);
/* Opens a constructed value (SEQUENCE, SET, [n] EXPLICIT...). */
void sm_der_begin(struct sm_der_w *w, uint8_t tag);
void sm_der_end(struct sm_der_w *w);
/* A complete TLV with the given content. */
void sm_der_tlv(struct sm_der_w *w, uint8_t tag, const void *content, size_t len);
/* Pre-encoded DER bytes, copied as they are. */
void sm_der_raw(struct sm_der_w *w, const void *der, size_t len);
/* UTCTime for 1950..2049, GeneralizedTime otherwise (RFC 5280 4.1.2.5). */
void sm_der_time(struct sm_der_w *w, int64_t unix_seconds);
/* SM_OK with *len, or SM_ERR_LIMIT (overflow) / SM_ERR_STATE (unbalanced). */
int sm_der_finish(struct sm_der_w *w, size_t *len);

struct sm_der_r {
	const uint8_t *p;
	size_t left;
};

/* Reads the next TLV: tag, content window, and the whole TLV (may be NULL).
 * Returns SM_OK, or SM_ERR_INVALID on malformed/overlong input or end. */
int sm_der_next(struct sm_der_r *r, uint8_t *tag, struct sm_der_r *content, struct sm_der_r *whole);
/* Parses UTCTime / GeneralizedTime content ("...Z") to Unix seconds. */
int sm_der_parse_time(uint8_t tag, const struct sm_der_r *content, int64_t *out);

#endif
