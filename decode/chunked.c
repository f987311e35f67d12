#include "decode/chunked.h"

#include <string.h>

#include "base/result.h"

void sm_chunked_init(struct sm_chunked *c, const struct sm_chunked_limits *lim)
{
	memset(c, 0, sizeof(*c));
	c->lim.max_line = lim && lim->max_line ? lim->max_line : 4096;
	c->lim.max_trailers = lim && lim->max_trailers ? lim->max_trailers : 8192;
	c->state = SM_CHUNKED_S_SIZE;
}

static int hexval(uint8_t ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static long fail(struct sm_chunked *c, enum sm_chunked_reason r, size_t at)
{
	c->state = SM_CHUNKED_S_ERROR;
	c->reason = r;
	c->offset += at;
	switch (r) {
	case SM_CHUNKED_LINE_TOO_LONG:
	case SM_CHUNKED_TRAILERS_TOO_LARGE:
	case SM_CHUNKED_SIZE_OVERFLOW: return SM_ERR_LIMIT;
	case SM_CHUNKED_SINK: return SM_ERR_STATE;
	default: return SM_ERR_INVALID;
	}
}

static int to_result(enum sm_chunked_reason r)
{
	switch (r) {
	case SM_CHUNKED_OK: return SM_OK;
	case SM_CHUNKED_LINE_TOO_LONG:
	case SM_CHUNKED_TRAILERS_TOO_LARGE:
	case SM_CHUNKED_SIZE_OVERFLOW: return SM_ERR_LIMIT;
	case SM_CHUNKED_TRUNCATED: return SM_ERR_TRUNCATED;
	case SM_CHUNKED_SINK: return SM_ERR_STATE;
	default: return SM_ERR_INVALID;
	}
}

long sm_chunked_feed(struct sm_chunked *c, const uint8_t *in, size_t n, sm_chunked_sink_fn sink,
                     void *arg)
{
	if (c->state == SM_CHUNKED_S_ERROR)
		return to_result(c->reason);
	size_t i = 0;
	while (i < n) {
		uint8_t ch = in[i];
		switch (c->state) {
		case SM_CHUNKED_S_SIZE: {
			int v = hexval(ch);
			if (v >= 0) {
				if (c->digits == 16 || c->remaining >> 59)
					return fail(c, SM_CHUNKED_SIZE_OVERFLOW, i);
				c->remaining = c->remaining << 4 | (uint64_t)v;
				c->digits++;
			} else if (c->digits == 0) {
				return fail(c, SM_CHUNKED_BAD_SIZE, i);
			} else if (ch == '\r') {
				c->state = SM_CHUNKED_S_SIZE_LF;
				i++;
				continue;
			} else if (ch == ';' || ch == ' ' || ch == '\t') {
				c->state = SM_CHUNKED_S_EXT;
			} else if (ch == '\n') {
				return fail(c, SM_CHUNKED_BAD_CRLF, i);
			} else {
				return fail(c, SM_CHUNKED_BAD_SIZE, i);
			}
			if (++c->line_len > c->lim.max_line)
				return fail(c, SM_CHUNKED_LINE_TOO_LONG, i);
			i++;
			break;
		}
		case SM_CHUNKED_S_EXT:
			if (ch == '\r') {
				c->state = SM_CHUNKED_S_SIZE_LF;
			} else if (ch == '\n') {
				return fail(c, SM_CHUNKED_BAD_CRLF, i);
			} else if (ch < 0x20 && ch != '\t') {
				return fail(c, SM_CHUNKED_BAD_SIZE, i);
			} else if (++c->line_len > c->lim.max_line) {
				return fail(c, SM_CHUNKED_LINE_TOO_LONG, i);
			}
			i++;
			break;
		case SM_CHUNKED_S_SIZE_LF:
			if (ch != '\n')
				return fail(c, SM_CHUNKED_BAD_CRLF, i);
			i++;
			c->line_len = 0;
			c->digits = 0;
			if (c->remaining == 0) {
				c->state = SM_CHUNKED_S_TRAILER;
			} else {
				c->chunks++;
				c->state = SM_CHUNKED_S_DATA;
			}
			break;
		case SM_CHUNKED_S_DATA: {
			size_t take = n - i;
			if (take > c->remaining)
				take = (size_t)c->remaining;
			if (sink(arg, in + i, take))
				return fail(c, SM_CHUNKED_SINK, i);
			c->remaining -= take;
			c->data_bytes += take;
			i += take;
			if (c->remaining == 0)
				c->state = SM_CHUNKED_S_DATA_CR;
			break;
		}
		case SM_CHUNKED_S_DATA_CR:
			if (ch != '\r')
				return fail(c, SM_CHUNKED_BAD_CRLF, i);
			c->state = SM_CHUNKED_S_DATA_LF;
			i++;
			break;
		case SM_CHUNKED_S_DATA_LF:
			if (ch != '\n')
				return fail(c, SM_CHUNKED_BAD_CRLF, i);
			c->state = SM_CHUNKED_S_SIZE;
			i++;
			break;
		case SM_CHUNKED_S_TRAILER:
		case SM_CHUNKED_S_TRAILER_LINE:
			if (ch == '\n')
				return fail(c, SM_CHUNKED_BAD_CRLF, i);
			if (ch == '\r') {
				c->state = c->state == SM_CHUNKED_S_TRAILER
				                   ? SM_CHUNKED_S_END_LF
				                   : SM_CHUNKED_S_TRAILER_LF;
			} else {
				c->state = SM_CHUNKED_S_TRAILER_LINE;
			}
			if (c->state != SM_CHUNKED_S_END_LF &&
			    ++c->trailer_len > c->lim.max_trailers)
				return fail(c, SM_CHUNKED_TRAILERS_TOO_LARGE, i);
			i++;
			break;
		case SM_CHUNKED_S_TRAILER_LF:
			if (ch != '\n')
				return fail(c, SM_CHUNKED_BAD_CRLF, i);
			if (++c->trailer_len > c->lim.max_trailers)
				return fail(c, SM_CHUNKED_TRAILERS_TOO_LARGE, i);
			c->state = SM_CHUNKED_S_TRAILER;
			i++;
			break;
		case SM_CHUNKED_S_END_LF:
			if (ch != '\n')
				return fail(c, SM_CHUNKED_BAD_CRLF, i);
			c->state = SM_CHUNKED_S_DONE;
			i++;
			c->offset += i;
			return (long)i;
		case SM_CHUNKED_S_DONE: return 0;
		case SM_CHUNKED_S_ERROR: return to_result(c->reason);
		}
	}
	c->offset += i;
	return (long)i;
}

bool sm_chunked_done(const struct sm_chunked *c)
{
	return c->state == SM_CHUNKED_S_DONE;
}

int sm_chunked_finish(struct sm_chunked *c)
{
	if (c->state == SM_CHUNKED_S_DONE)
		return SM_OK;
	if (c->state == SM_CHUNKED_S_ERROR)
		return to_result(c->reason);
	c->state = SM_CHUNKED_S_ERROR;
	c->reason = SM_CHUNKED_TRUNCATED;
	return SM_ERR_TRUNCATED;
}

const char *sm_chunked_reason_str(enum sm_chunked_reason r)
{
	switch (r) {
	case SM_CHUNKED_OK: return "ok";
	case SM_CHUNKED_BAD_SIZE: return "bad_size";
	case SM_CHUNKED_SIZE_OVERFLOW: return "size_overflow";
	case SM_CHUNKED_LINE_TOO_LONG: return "line_too_long";
	case SM_CHUNKED_BAD_CRLF: return "bad_crlf";
	case SM_CHUNKED_TRAILERS_TOO_LARGE: return "trailers_too_large";
	case SM_CHUNKED_TRUNCATED: return "truncated";
	case SM_CHUNKED_SINK: return "sink";
	}
	return "unknown";
}
