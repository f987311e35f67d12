/* text/event-stream parser: a byte-resumable state machine (see sse.h). */
#include "proto/sse.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "base/result.h"

/* Where the parser is within the current line. */
enum sse_state {
	ST_LINE_START,  /* no byte of the current line seen yet */
	ST_FIELD,       /* reading a field name, before ':' */
	ST_VALUE_START, /* just after ':'; one leading space is dropped */
	ST_VALUE,       /* reading a field value into its sink */
	ST_COMMENT,     /* reading a comment (line began with ':') */
	ST_SKIP_LINE,   /* ignoring the rest of this line */
};

/* What the value of the current line feeds. */
enum sse_field {
	F_IGNORE, /* unknown field name: value dropped */
	F_DATA,   /* appended to the data buffer */
	F_EVENT,  /* collected in line[], then becomes the event type */
	F_ID,     /* collected in line[], then becomes the last event ID */
	F_RETRY,  /* collected in line[], then parsed as digits */
};

#define SSE_NAME_MAX 8 /* longer than any known field name */

struct sm_sse {
	sm_sse_cb cb;
	void *ctx;
	uint32_t max_event;
	uint32_t max_line;
	uint8_t state;    /* enum sse_state */
	uint8_t field;    /* enum sse_field of the current line */
	uint8_t bom_pos;  /* BOM bytes matched and held at stream start */
	bool bom_done;    /* past the point where a BOM may appear */
	bool last_cr;     /* previous byte was CR: a following LF is not a new line */
	bool skipping;    /* after an error: ignore lines until a blank line */
	bool finished;    /* sm_sse_finish was called */
	bool comment_cut; /* current comment exceeded max_line */
	uint8_t name_len;
	bool name_long;
	char name[SSE_NAME_MAX];
	size_t data_len;   /* bytes in data[], each data line followed by '\n' */
	size_t line_len;   /* bytes in line[] */
	size_t evtype_len; /* bytes in evtype[] */
	size_t id_len;     /* bytes in id[] (persists across events) */
	uint64_t off;      /* stream bytes processed (BOM included) */
	struct sm_sse_stats st;
	char *data;   /* max_event + 1 */
	char *line;   /* max_line */
	char *evtype; /* max_line */
	char *id;     /* max_line */
};

static const uint8_t sse_bom[3] = {0xEF, 0xBB, 0xBF};

struct sm_sse *sm_sse_new(const struct sm_sse_config *cfg, sm_sse_cb cb, void *ctx)
{
	uint32_t max_event = cfg && cfg->max_event ? cfg->max_event : SM_SSE_DEFAULT_MAX_EVENT;
	uint32_t max_line = cfg && cfg->max_line ? cfg->max_line : SM_SSE_DEFAULT_MAX_LINE;
	if (max_event > SM_SSE_LIMIT_MAX || max_line > SM_SSE_LIMIT_MAX || !cb)
		return NULL;
	size_t total = sizeof(struct sm_sse) + (size_t)max_event + 1 + 3 * (size_t)max_line;
	/* Only the struct is zeroed: the buffers are written before they are
	 * read (their lengths say how much is valid), and zeroing max_event
	 * bytes (1 MiB in the proxy) per stream dominated the observer's cost. */
	struct sm_sse *p = malloc(total);
	if (!p)
		return NULL;
	memset(p, 0, sizeof(*p));
	p->cb = cb;
	p->ctx = ctx;
	p->max_event = max_event;
	p->max_line = max_line;
	p->data = (char *)(p + 1);
	p->line = p->data + max_event + 1;
	p->evtype = p->line + max_line;
	p->id = p->evtype + max_line;
	return p;
}

void sm_sse_free(struct sm_sse *p)
{
	free(p);
}

const struct sm_sse_stats *sm_sse_stats(const struct sm_sse *p)
{
	return &p->st;
}

static void emit(struct sm_sse *p, struct sm_sse_event *ev)
{
	p->cb(p->ctx, ev);
}

/* A bound was hit: report once, drop the event, skip to the next blank line.
 * at is the stream offset just after the offending byte. */
static void fail(struct sm_sse *p, enum sm_sse_reason r, uint64_t at)
{
	struct sm_sse_event ev = {.type = SM_SSE_EV_ERROR, .reason = r, .offset = at};
	p->st.errors++;
	if (r == SM_SSE_R_EVENT_TOO_LARGE)
		p->st.oversized_events++;
	else
		p->st.long_lines++;
	emit(p, &ev);
	p->skipping = true;
	p->state = ST_SKIP_LINE;
	p->data_len = 0;
	p->evtype_len = 0;
}

static void dispatch(struct sm_sse *p, bool truncated)
{
	if (p->data_len == 0) {
		p->evtype_len = 0;
		return;
	}
	struct sm_sse_event ev = {
	        .type = SM_SSE_EV_MESSAGE,
	        .event = p->evtype_len ? p->evtype : "message",
	        .event_len = p->evtype_len ? p->evtype_len : 7,
	        .data = p->data,
	        .data_len = p->data_len - 1, /* the last '\n' is not part of the data */
	        .id = p->id,
	        .id_len = p->id_len,
	        .truncated = truncated,
	        .offset = p->off,
	};
	p->st.messages++;
	emit(p, &ev);
	p->data_len = 0;
	p->evtype_len = 0;
}

/* The sink of field name n[0..len): short fixed compares instead of a table
 * walk with memcmp calls. */
static uint8_t field_of(const char *n, size_t len)
{
	switch (len) {
	case 2:
		if (n[0] == 'i' && n[1] == 'd')
			return F_ID;
		break;
	case 4:
		if (n[0] == 'd' && n[1] == 'a' && n[2] == 't' && n[3] == 'a')
			return F_DATA;
		break;
	case 5:
		if (n[0] == 'e' && n[1] == 'v' && n[2] == 'e' && n[3] == 'n' && n[4] == 't')
			return F_EVENT;
		if (n[0] == 'r' && n[1] == 'e' && n[2] == 't' && n[3] == 'r' && n[4] == 'y')
			return F_RETRY;
		break;
	default: break;
	}
	return F_IGNORE;
}

/* Maps the collected field name to its sink; called once per line. */
static void resolve_field(struct sm_sse *p)
{
	p->field = p->name_long ? F_IGNORE : field_of(p->name, p->name_len);
	p->line_len = 0;
}

static void process_retry(struct sm_sse *p)
{
	uint64_t v = 0;
	if (p->line_len == 0)
		return;
	for (size_t i = 0; i < p->line_len; i++) {
		unsigned char c = (unsigned char)p->line[i];
		if (c < '0' || c > '9')
			return; /* not digits only: the field is ignored */
		if (v > (UINT64_MAX - 9) / 10)
			return; /* does not fit: ignored */
		v = v * 10 + (uint64_t)(c - '0');
	}
	struct sm_sse_event ev = {.type = SM_SSE_EV_RETRY, .retry_ms = v, .offset = p->off};
	emit(p, &ev);
}

/* A field line ended: apply its value. */
static void end_of_field(struct sm_sse *p)
{
	switch (p->field) {
	case F_DATA:
		if (p->data_len + 1 > (size_t)p->max_event + 1) {
			fail(p, SM_SSE_R_EVENT_TOO_LARGE, p->off);
			break;
		}
		p->data[p->data_len++] = '\n';
		if (p->data_len > p->st.data_hwm)
			p->st.data_hwm = p->data_len;
		break;
	case F_EVENT:
		memcpy(p->evtype, p->line, p->line_len);
		p->evtype_len = p->line_len;
		break;
	case F_ID:
		if (!memchr(p->line, 0, p->line_len)) {
			memcpy(p->id, p->line, p->line_len);
			p->id_len = p->line_len;
		}
		break;
	case F_RETRY: process_retry(p); break;
	default: break;
	}
}

/* The current line ended (its terminator is already counted in off). */
static void end_of_line(struct sm_sse *p)
{
	switch (p->state) {
	case ST_LINE_START:
		if (p->skipping) {
			p->skipping = false;
			p->data_len = 0;
			p->evtype_len = 0;
		} else {
			dispatch(p, false);
		}
		break;
	case ST_FIELD:
		resolve_field(p); /* no ':': the value is empty */
		end_of_field(p);
		break;
	case ST_VALUE_START:
	case ST_VALUE: end_of_field(p); break;
	case ST_COMMENT: {
		struct sm_sse_event ev = {.type = SM_SSE_EV_COMMENT,
		                          .data = p->line,
		                          .data_len = p->line_len,
		                          .truncated = p->comment_cut,
		                          .offset = p->off};
		p->st.comments++;
		emit(p, &ev);
		break;
	}
	default: break;
	}
	p->state = ST_LINE_START;
}

/* Bytes before the first CR or LF (n if none). Lines are short (SSE sends
 * one token per event): 16 bytes at a time inline (SSE2, baseline on
 * x86-64) instead of two memchr calls per line. */
static size_t span_to_eol(const uint8_t *b, size_t n)
{
	size_t i = 0;
#if defined(__SSE2__)
	const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
	for (; i + 16 <= n; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
		unsigned m = (unsigned)_mm_movemask_epi8(
		        _mm_or_si128(_mm_cmpeq_epi8(x, lf), _mm_cmpeq_epi8(x, cr)));
		if (m)
			return i + (size_t)__builtin_ctz(m);
	}
#endif
	while (i < n && b[i] != '\n' && b[i] != '\r')
		i++;
	return i;
}

/* Bytes of a value run go to the current sink; off is the run's start. */
static void value_run(struct sm_sse *p, const uint8_t *b, size_t n)
{
	switch (p->field) {
	case F_DATA:
		if (p->data_len + n > p->max_event) {
			fail(p, SM_SSE_R_EVENT_TOO_LARGE,
			     p->off + (p->max_event - p->data_len) + 1);
			return;
		}
		memcpy(p->data + p->data_len, b, n);
		p->data_len += n;
		if (p->data_len > p->st.data_hwm)
			p->st.data_hwm = p->data_len;
		break;
	case F_EVENT:
	case F_ID:
	case F_RETRY:
		if (p->line_len + n > p->max_line) {
			fail(p, SM_SSE_R_LINE_TOO_LONG, p->off + (p->max_line - p->line_len) + 1);
			return;
		}
		memcpy(p->line + p->line_len, b, n);
		p->line_len += n;
		if (p->line_len > p->st.line_hwm)
			p->st.line_hwm = p->line_len;
		break;
	default: break;
	}
}

static void comment_run(struct sm_sse *p, const uint8_t *b, size_t n)
{
	size_t room = p->max_line - p->line_len;
	if (n > room) {
		n = room;
		p->comment_cut = true;
	}
	memcpy(p->line + p->line_len, b, n);
	p->line_len += n;
	if (p->line_len > p->st.line_hwm)
		p->st.line_hwm = p->line_len;
}

/* A whole field line b[0..len) (len >= 1, b[0] not ':', its terminator
 * next in the chunk) at line start: name, value and sink in one go instead
 * of byte by byte. Leaves the state as the byte loop would just before the
 * terminator, so end_of_line() finishes it identically. */
static void field_line(struct sm_sse *p, const uint8_t *b, size_t len)
{
	size_t nl = 0; /* field names are short: a byte loop beats a call */
	while (nl < len && b[nl] != ':')
		nl++;
	bool colon = nl < len;
	/* p->name is not needed: the name is matched where it lies */
	p->field = field_of((const char *)b, nl);
	p->line_len = 0;
	p->state = ST_VALUE;
	if (colon) {
		size_t v = nl + 1;
		if (v < len && b[v] == ' ')
			v++;
		if (v < len && p->field != F_IGNORE) {
			p->off += v; /* value_run() reports errors relative to off */
			value_run(p, b + v, len - v);
			p->off += len - v;
			return;
		}
	}
	p->off += len;
}

static void step(struct sm_sse *p, const uint8_t *b, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = b[i];
		if (p->state == ST_LINE_START && !p->last_cr && !p->skipping && c != ':' &&
		    c != '\r' && c != '\n') {
			size_t len = span_to_eol(b + i, n - i);
			if (len < n - i) { /* the line ends in this chunk */
				field_line(p, b + i, len);
				i += len;
				continue;
			}
		}
		if (p->last_cr) {
			p->last_cr = false;
			if (c == '\n') { /* second half of CRLF */
				i++;
				p->off++;
				continue;
			}
		}
		if (c == '\r' || c == '\n') {
			p->last_cr = c == '\r';
			i++;
			p->off++;
			end_of_line(p);
			continue;
		}
		switch (p->state) {
		case ST_LINE_START:
			if (p->skipping) {
				p->state = ST_SKIP_LINE;
			} else if (c == ':') {
				p->state = ST_COMMENT;
				p->line_len = 0;
				p->comment_cut = false;
				i++;
				p->off++;
			} else {
				p->state = ST_FIELD;
				p->name_len = 0;
				p->name_long = false;
			}
			break;
		case ST_FIELD:
			if (c == ':') {
				resolve_field(p);
				p->state = ST_VALUE_START;
			} else if (p->name_len < SSE_NAME_MAX) {
				p->name[p->name_len++] = (char)c;
			} else {
				p->name_long = true;
			}
			i++;
			p->off++;
			break;
		case ST_VALUE_START:
			p->state = ST_VALUE;
			if (c == ' ') {
				i++;
				p->off++;
			}
			break;
		case ST_VALUE:
		case ST_COMMENT:
		case ST_SKIP_LINE: {
			size_t run = span_to_eol(b + i, n - i);
			if (p->state == ST_VALUE)
				value_run(p, b + i, run);
			else if (p->state == ST_COMMENT)
				comment_run(p, b + i, run);
			i += run;
			p->off += run;
			break;
		}
		}
	}
}

long sm_sse_feed(struct sm_sse *p, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	size_t i = 0;
	if (p->finished)
		return SM_ERR_STATE;
	if (len == 0)
		return 0; /* also keeps NULL + 0 out of pointer arithmetic */
	p->st.bytes += len;
	/* A BOM may be split across chunks: hold matching bytes until decided. */
	while (!p->bom_done && i < len) {
		if (b[i] == sse_bom[p->bom_pos]) {
			i++;
			if (++p->bom_pos == sizeof(sse_bom)) {
				p->bom_done = true;
				p->off += sizeof(sse_bom);
			}
		} else {
			p->bom_done = true;
			step(p, sse_bom, p->bom_pos); /* not a BOM: replay held bytes */
		}
	}
	step(p, b + i, len - i);
	return (long)len;
}

int sm_sse_finish(struct sm_sse *p)
{
	if (p->finished)
		return SM_ERR_STATE;
	if (!p->bom_done) {
		p->bom_done = true;
		step(p, sse_bom, p->bom_pos);
	}
	int r = SM_OK;
	if (p->state != ST_LINE_START)
		end_of_line(p);
	if (!p->skipping && p->data_len > 0) {
		dispatch(p, true);
		r = SM_ERR_TRUNCATED;
	}
	p->finished = true;
	return r;
}

const char *sm_sse_ev_type_str(enum sm_sse_ev_type t)
{
	switch (t) {
	case SM_SSE_EV_MESSAGE: return "message";
	case SM_SSE_EV_COMMENT: return "comment";
	case SM_SSE_EV_RETRY: return "retry";
	case SM_SSE_EV_ERROR: return "error";
	}
	return "unknown";
}

const char *sm_sse_reason_str(enum sm_sse_reason r)
{
	switch (r) {
	case SM_SSE_R_NONE: return "none";
	case SM_SSE_R_EVENT_TOO_LARGE: return "event_too_large";
	case SM_SSE_R_LINE_TOO_LONG: return "line_too_long";
	}
	return "unknown";
}
