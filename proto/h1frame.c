/* Strict HTTP/1.1 head scan and body delimiting; rules in h1frame.h. */
#include "proto/h1frame.h"

#include <string.h>

enum sm_hdrcheck_reason sm_h1frame_scan_head(const uint8_t *h, size_t len, int is_request)
{
	size_t i = 0;
	unsigned line = 0;
	int line_start = 1;
	uint8_t prev = 0;

	/* RFC 9112 §2.2: empty lines before the start line may be ignored */
	while (i + 1 < len && h[i] == '\r' && h[i + 1] == '\n')
		i += 2;
	for (; i < len; i++) {
		uint8_t c = h[i];
		if (c == 0)
			return SM_HDRCHECK_VALUE_NUL;
		if (c == '\r') {
			if (i + 1 >= len || h[i + 1] != '\n')
				return SM_HDRCHECK_BARE_CR;
			i++;
			line++;
			line_start = 1;
			prev = 0;
			continue;
		}
		if (c == '\n')
			return SM_HDRCHECK_BARE_LF;
		if (line_start && line > 0 && (c == ' ' || c == '\t'))
			return SM_HDRCHECK_OBS_FOLD;
		if (line == 0 && is_request && (c == '\t' || (c == ' ' && prev == ' ')))
			return SM_HDRCHECK_NAME_CHAR;
		line_start = 0;
		prev = c;
	}
	return SM_HDRCHECK_OK;
}

/* chunked states */
enum {
	CH_SIZE = 0, /* hex digits of a chunk size */
	CH_EXT,      /* after ';' until CR */
	CH_SIZE_LF,  /* CR seen after the size line */
	CH_DATA,     /* chunk data */
	CH_DATA_CR,  /* expecting CR after data */
	CH_DATA_LF,  /* expecting LF after data */
	CH_TR_START, /* start of a trailer line (or the final CRLF) */
	CH_TR_NAME,  /* trailer field name */
	CH_TR_VALUE, /* trailer field value */
	CH_TR_LF,    /* CR seen after a trailer line */
	CH_END_LF,   /* CR of the final empty line seen */
};

void sm_h1frame_body_init(struct sm_h1frame_body *b, enum sm_h1frame_kind kind, uint64_t length,
                          uint32_t trailer_max)
{
	memset(b, 0, sizeof(*b));
	b->kind = (uint8_t)kind;
	b->remaining = kind == SM_H1FRAME_LENGTH ? length : 0;
	b->trailer_max = trailer_max;
	b->state = CH_SIZE;
	b->done = kind == SM_H1FRAME_NONE || (kind == SM_H1FRAME_LENGTH && length == 0);
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int is_tchar(uint8_t c)
{
	return sm_hdrcheck_name(&c, 1) == SM_HDRCHECK_OK;
}

/* fn (may be NULL) receives each run of chunk data, tfn (may be NULL) the
 * bytes of the trailer section */
static long chunked(struct sm_h1frame_body *b, const uint8_t *in, size_t len,
                    enum sm_h1frame_reason *why, sm_h1frame_data_fn fn, sm_h1frame_data_fn tfn,
                    void *ctx)
{
	size_t i = 0;
	while (i < len && !b->done) {
		uint8_t c = in[i];
		if (b->state == CH_DATA) {
			size_t n = len - i;
			if (n > b->remaining)
				n = (size_t)b->remaining;
			b->remaining -= n;
			if (fn && n)
				fn(ctx, in + i, n);
			i += n;
			if (b->remaining == 0)
				b->state = CH_DATA_CR;
			continue;
		}
		if (b->state >= CH_TR_START && ++b->trailer_len > b->trailer_max) {
			*why = SM_H1FRAME_TRAILER_TOO_LARGE;
			return (long)i;
		}
		if (b->state >= CH_TR_START && tfn)
			tfn(ctx, in + i, 1); /* a bad byte is reported too: the caller
			                        drops the section on error */
		i++;
		switch (b->state) {
		case CH_SIZE: {
			int v = hexval(c);
			if (v >= 0 && b->size_digits < 15) {
				b->remaining = (b->remaining << 4) | (uint64_t)v;
				b->size_digits++;
				break;
			}
			if (b->size_digits > 0 && c == ';') {
				b->state = CH_EXT;
				break;
			}
			if (b->size_digits > 0 && c == '\r') {
				b->state = CH_SIZE_LF;
				break;
			}
			*why = SM_H1FRAME_CHUNK_SIZE;
			return (long)i - 1; /* the faulty byte is not consumed */
		}
		case CH_EXT:
			if (c == '\r')
				b->state = CH_SIZE_LF;
			else if (c != '\t' && (c < 0x20 || c == 0x7f)) {
				*why = SM_H1FRAME_CHUNK_EXT;
				return (long)i - 1; /* the faulty byte is not consumed */
			}
			break;
		case CH_SIZE_LF:
			if (c != '\n') {
				*why = SM_H1FRAME_CHUNK_CRLF;
				return (long)i - 1; /* the faulty byte is not consumed */
			}
			b->size_digits = 0;
			b->state = b->remaining == 0 ? CH_TR_START : CH_DATA;
			break;
		case CH_DATA_CR:
			if (c != '\r') {
				*why = SM_H1FRAME_CHUNK_CRLF;
				return (long)i - 1; /* the faulty byte is not consumed */
			}
			b->state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (c != '\n') {
				*why = SM_H1FRAME_CHUNK_CRLF;
				return (long)i - 1; /* the faulty byte is not consumed */
			}
			b->state = CH_SIZE;
			break;
		case CH_TR_START:
			if (c == '\r') {
				b->state = CH_END_LF;
			} else if (is_tchar(c)) {
				b->state = CH_TR_NAME;
				b->tname[0] = c;
				b->tname_len = 1;
			} else {
				*why = SM_H1FRAME_TRAILER;
				return (long)i - 1; /* the faulty byte is not consumed */
			}
			break;
		case CH_TR_NAME:
			if (c == ':') {
				/* refused before its colon goes out: the peer never
				 * gets a field line it could merge into the head */
				if (b->tname_len <= SM_HDRCHECK_TRAILER_NAME_MAX &&
				    sm_hdrcheck_trailer_forbidden(b->tname, b->tname_len)) {
					*why = SM_H1FRAME_TRAILER_FORBIDDEN;
					return (long)i - 1;
				}
				b->state = CH_TR_VALUE;
			} else if (is_tchar(c)) {
				if (b->tname_len < SM_HDRCHECK_TRAILER_NAME_MAX)
					b->tname[b->tname_len] = c;
				if (b->tname_len <= SM_HDRCHECK_TRAILER_NAME_MAX)
					b->tname_len++; /* past the max: a longer name */
			} else {
				*why = SM_H1FRAME_TRAILER;
				return (long)i - 1; /* the faulty byte is not consumed */
			}
			break;
		case CH_TR_VALUE:
			if (c == '\r') {
				b->state = CH_TR_LF;
			} else if (c != '\t' && (c < 0x20 || c == 0x7f)) {
				*why = SM_H1FRAME_TRAILER;
				return (long)i - 1; /* the faulty byte is not consumed */
			}
			break;
		case CH_TR_LF:
			if (c != '\n') {
				*why = SM_H1FRAME_TRAILER;
				return (long)i - 1; /* the faulty byte is not consumed */
			}
			b->state = CH_TR_START;
			break;
		case CH_END_LF:
			if (c != '\n') {
				*why = SM_H1FRAME_CHUNK_CRLF;
				return (long)i - 1; /* the faulty byte is not consumed */
			}
			b->done = 1;
			break;
		default:
			*why = SM_H1FRAME_CHUNK_SIZE;
			return (long)i - 1; /* the faulty byte is not consumed */
		}
	}
	return (long)i;
}

long sm_h1frame_body_feed(struct sm_h1frame_body *b, const uint8_t *in, size_t len,
                          enum sm_h1frame_reason *why)
{
	return sm_h1frame_body_data(b, in, len, why, NULL, NULL);
}

long sm_h1frame_body_data(struct sm_h1frame_body *b, const uint8_t *in, size_t len,
                          enum sm_h1frame_reason *why, sm_h1frame_data_fn fn, void *ctx)
{
	return sm_h1frame_body_parts(b, in, len, why, fn, NULL, ctx);
}

long sm_h1frame_body_parts(struct sm_h1frame_body *b, const uint8_t *in, size_t len,
                           enum sm_h1frame_reason *why, sm_h1frame_data_fn fn,
                           sm_h1frame_data_fn tfn, void *ctx)
{
	*why = SM_H1FRAME_OK;
	if (b->done)
		return 0;
	switch (b->kind) {
	case SM_H1FRAME_LENGTH: {
		size_t n = len;
		if (n > b->remaining)
			n = (size_t)b->remaining;
		b->remaining -= n;
		b->done = b->remaining == 0;
		if (fn && n)
			fn(ctx, in, n);
		return (long)n;
	}
	case SM_H1FRAME_CHUNKED: return chunked(b, in, len, why, fn, tfn, ctx);
	case SM_H1FRAME_EOF:
		if (fn && len)
			fn(ctx, in, len);
		return (long)len;
	default: b->done = 1; return 0;
	}
}

int sm_h1frame_body_eof(struct sm_h1frame_body *b)
{
	if (b->kind == SM_H1FRAME_EOF)
		b->done = 1;
	return b->done;
}

const char *sm_h1frame_reason_str(enum sm_h1frame_reason r)
{
	switch (r) {
	case SM_H1FRAME_OK: return "ok";
	case SM_H1FRAME_CHUNK_SIZE: return "chunk_size";
	case SM_H1FRAME_CHUNK_EXT: return "chunk_ext";
	case SM_H1FRAME_CHUNK_CRLF: return "chunk_crlf";
	case SM_H1FRAME_TRAILER: return "trailer";
	case SM_H1FRAME_TRAILER_TOO_LARGE: return "trailer_too_large";
	case SM_H1FRAME_TRAILER_FORBIDDEN: return "trailer_forbidden";
	}
	return "unknown";
}

/* Next field line of a head or trailer section (CRLF line ends, already
 * checked) at *pos: 1 with the name and the OWS-trimmed value, 0 at the
 * blank line or the end, -1 for a line without a colon. */
int sm_h1frame_next_field(uint8_t *s, uint32_t end, uint32_t *pos, uint8_t **name, uint32_t *nlen,
                          uint8_t **val, uint32_t *vlen)
{
	uint32_t i = *pos, e = i;
	while (e + 1 < end && !(s[e] == '\r' && s[e + 1] == '\n'))
		e++;
	if (e + 1 >= end || e == i)
		return 0;
	*pos = e + 2;
	uint8_t *c = memchr(s + i, ':', e - i);
	if (!c)
		return -1;
	*name = s + i;
	*nlen = (uint32_t)(c - (s + i));
	uint32_t vb = (uint32_t)(c + 1 - s), ve = e;
	while (vb < ve && (s[vb] == ' ' || s[vb] == '\t'))
		vb++;
	while (ve > vb && (s[ve - 1] == ' ' || s[ve - 1] == '\t'))
		ve--;
	*val = s + vb;
	*vlen = ve - vb;
	return 1;
}
