#include "observe/pipeline.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/result.h"
#include "decode/antihijack.h"
#include "decode/inflate.h"
#include "proto/grpc.h"
#include "proto/sse.h"
#include "proto/websocket.h"

/* grpc-encoding of the sender. */
enum { GENC_NONE, GENC_IDENTITY, GENC_GZIP, GENC_DEFLATE, GENC_UNKNOWN };

/* How a unit's payload is interpreted. */
enum hint {
	H_RAW,     /* opaque */
	H_TEXT,    /* text: never JSON-sniffed */
	H_SNIFF,   /* text that is JSON when it starts with { or [ (guard allowed) */
	H_JSON,    /* declared JSON: guard stripped, passed through */
	H_MSGPACK, /* msgpack -> JSON */
};

struct sm_pipe {
	struct sm_pipe_config cfg;
	sm_pipe_cb cb;
	void *ctx;
	uint64_t seq;
	uint64_t unit;

	bool chunked_on;
	enum sm_pipe_framing framing;
	enum hint body_hint; /* FRAME_NONE units and gRPC messages */

	struct sm_chunked chunked;
	struct sm_content content;
	struct sm_sse *sse;
	struct sm_grpc *grpc;
	struct sm_ws *ws;
	struct sm_msgpack mp;
	struct sm_antihijack ah;

	/* gRPC grpc-encoding: compressed messages decoded into ubuf */
	int genc;              /* GENC_* */
	struct sm_inflate *gz; /* created on the first compressed message */
	bool unit_decoded;     /* the unit being reported was decoded from wire bytes */
	bool partial;          /* the unit being reported ends at cfg.prefix: length unknown */
	uint64_t unit_wire;    /* its wire length */

	int failed;           /* lowest failed stage, -1 when none */
	unsigned failed_mask; /* stages whose failure was reported */
	int first_result;
	bool finished;

	struct sm_pipe_stats st;

	/* Raw fallback: the first `excerpt` bytes and total length (in
	 * st.in_bytes) of the input of the transfer, content and framing stages. */
	uint8_t *ex[3];
	size_t ex_len[3];

	uint8_t *ubuf; /* FRAME_NONE body, first ucap bytes */
	size_t ucap;   /* max_unit, or less with cfg.prefix */
	size_t ulen;
	uint64_t utotal;
	char *json; /* msgpack output: its first `excerpt` bytes */
};

static void emit(struct sm_pipe *p, struct sm_pipe_event *ev)
{
	ev->seq = p->seq++;
	if (ev->type == SM_PIPE_EV_ERROR) {
		p->st.errors++;
		p->st.fatal += ev->fatal;
	} else {
		p->st.units++;
		p->st.sanitized += ev->sanitized;
	}
	if (!ev->guard)
		ev->guard = "";
	if (!ev->label)
		ev->label = "";
	if (!ev->reason)
		ev->reason = "";
	if (!ev->who)
		ev->who = "";
	p->cb(p->ctx, ev);
}

static void error_event(struct sm_pipe *p, enum sm_pipe_stage st, int result, const char *reason,
                        const char *who, bool fatal)
{
	struct sm_pipe_event ev = {.type = SM_PIPE_EV_ERROR,
	                           .stage = st,
	                           .result = result,
	                           .reason = reason,
	                           .who = who,
	                           .fatal = fatal};
	emit(p, &ev);
}

/* A stage can no longer be trusted: report once; the lowest failed stage
 * decides the raw fallback. */
static void stage_fail(struct sm_pipe *p, enum sm_pipe_stage st, int result, const char *reason,
                       const char *who)
{
	if (p->failed_mask & (1u << st))
		return;
	p->failed_mask |= 1u << st;
	if (p->failed < 0 || (int)st < p->failed)
		p->failed = (int)st;
	if (!p->first_result)
		p->first_result = result;
	error_event(p, st, result, reason, who, true);
}

static bool stage_live(const struct sm_pipe *p, enum sm_pipe_stage st)
{
	return p->failed < 0 || (int)st < p->failed;
}

static void ex_put(struct sm_pipe *p, int st, const uint8_t *d, size_t n)
{
	size_t room = p->cfg.excerpt - p->ex_len[st];
	size_t k = n < room ? n : room;
	memcpy(p->ex[st] + p->ex_len[st], d, k);
	p->ex_len[st] += k;
	p->st.in_bytes[st] += n;
}

static bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void payload_event(struct sm_pipe *p, enum sm_pipe_kind kind, const uint8_t *d, size_t kept,
                          uint64_t total, const char *label, size_t label_len, bool compressed,
                          const struct sm_antihijack_match *m)
{
	struct sm_pipe_event ev = {.type = SM_PIPE_EV_PAYLOAD,
	                           .stage = SM_PIPE_PAYLOAD,
	                           .kind = kind,
	                           .unit = p->unit++,
	                           .length = total,
	                           .excerpt = d,
	                           .label = label,
	                           .label_len = label_len,
	                           .compressed = compressed || p->unit_decoded,
	                           .decoded = p->unit_decoded,
	                           .partial = p->partial,
	                           .wire_length = p->unit_wire};
	ev.excerpt_len = kept < p->cfg.excerpt ? kept : p->cfg.excerpt;
	if (m && m->sanitized) {
		ev.sanitized = true;
		ev.guard = m->prefix;
	}
	emit(p, &ev);
}

/* One unit: d[0..kept) are its first bytes, total its full length. */
static void unit(struct sm_pipe *p, enum hint h, const uint8_t *d, size_t kept, uint64_t total,
                 const char *label, size_t label_len, bool compressed)
{
	if (compressed)
		h = H_RAW;
	if (!p->unit_decoded)
		p->unit_wire = total;
	if (kept < total)
		p->st.units_cut++;
	if (h == H_MSGPACK) {
		struct sm_msgpack_status st;
		int r;
		const char *reason;
		bool pre = p->cfg.prefix && p->framing == SM_PIPE_FRAME_NONE;
		bool head = p->partial || (pre && kept < total);
		if (kept < total && !pre) {
			r = SM_ERR_LIMIT;
			reason = "unit_too_large";
		} else {
			/* events quote only the excerpt: the rest of the JSON is
			 * validated and measured, not written; a body cut at the
			 * prefix is converted as far as it goes */
			r = head ? sm_msgpack_head_to_json(&p->mp, d, kept, p->json, p->cfg.excerpt,
			                                   &st)
			         : sm_msgpack_to_json_prefix(&p->mp, d, kept, p->json,
			                                     p->cfg.excerpt, &st);
			reason = sm_msgpack_reason_str(st.reason);
		}
		if (r == SM_OK) {
			p->st.msgpack_ok++;
			p->partial = head; /* the JSON's length is known only when whole */
			payload_event(p, SM_PIPE_KIND_MSGPACK, (const uint8_t *)p->json, st.out_len,
			              st.out_len, label, label_len, false, NULL);
			return;
		}
		p->st.msgpack_failed++;
		error_event(p, SM_PIPE_PAYLOAD, r, reason, "msgpack", false);
		payload_event(p, SM_PIPE_KIND_RAW, d, kept, total, label, label_len, false, NULL);
		return;
	}
	if (h == H_JSON || h == H_SNIFF) {
		/* kept >= the guard window unless the unit is shorter: final. */
		struct sm_antihijack_match m;
		sm_antihijack_scan(&p->ah, d, kept, true, &m);
		size_t s = m.strip;
		if (h == H_SNIFF) {
			size_t i = s;
			while (i < kept && is_ws(d[i]))
				i++;
			if (i == kept || (d[i] != '{' && d[i] != '[')) {
				payload_event(p, SM_PIPE_KIND_TEXT, d, kept, total, label,
				              label_len, false, NULL);
				return;
			}
		}
		payload_event(p, SM_PIPE_KIND_JSON, d + s, kept - s, total - s, label, label_len,
		              false, &m);
		return;
	}
	payload_event(p, h == H_TEXT ? SM_PIPE_KIND_TEXT : SM_PIPE_KIND_RAW, d, kept, total, label,
	              label_len, compressed, NULL);
}

/* ---- framing callbacks -------------------------------------------------- */

static void on_sse(void *ctx, const struct sm_sse_event *ev)
{
	struct sm_pipe *p = ctx;
	if (ev->type == SM_SSE_EV_MESSAGE)
		unit(p, H_SNIFF, (const uint8_t *)ev->data, ev->data_len, ev->data_len, ev->event,
		     ev->event_len, false);
	else if (ev->type == SM_SSE_EV_ERROR)
		error_event(p, SM_PIPE_FRAMING, SM_ERR_LIMIT, sm_sse_reason_str(ev->reason), "sse",
		            false);
}

/* A compressed gRPC message, whole in ev->excerpt: decoded into ubuf (the
 * first max_unit bytes kept, the rest counted) and reported as a unit of
 * its decoded bytes. Returns false (with an ERROR event) when it cannot be:
 * the caller reports it compressed, as is. */
static bool grpc_decode(struct sm_pipe *p, const struct sm_grpc_event *ev)
{
	const char *who = p->genc == GENC_GZIP ? "gzip" : "deflate";
	int r = SM_OK;
	const char *why = NULL;
	if (p->genc != GENC_GZIP && p->genc != GENC_DEFLATE) {
		r = SM_ERR_UNSUPPORTED; /* RFC: a compressed flag needs a real coding */
		why = p->genc == GENC_UNKNOWN ? "unknown" : "no_encoding";
		who = "grpc-encoding";
	} else if (ev->excerpt_len < ev->length) {
		r = SM_ERR_LIMIT; /* only part of it was kept: cannot be decoded */
		why = "too_large";
	} else if (!p->gz) {
		struct sm_inflate_config zc = {.format = p->genc == GENC_GZIP ? SM_INFLATE_GZIP
		                                                              : SM_INFLATE_ZLIB,
		                               .max_output = p->cfg.content.max_output};
		p->gz = sm_inflate_new(&zc);
		if (!p->gz) {
			r = SM_ERR_NOMEM;
			why = "nomem";
		}
	}
	size_t kept = 0;
	if (!r) {
		r = sm_inflate_feed(p->gz, ev->excerpt, ev->excerpt_len, p->ubuf, p->cfg.max_unit,
		                    &kept);
		int re = sm_inflate_end(p->gz, p->ubuf, p->cfg.max_unit, &kept);
		if (!r)
			r = re;
		why = sm_inflate_reason_str(sm_inflate_reason(p->gz));
	}
	if (r) {
		p->st.decode_failed++;
		if (r == SM_ERR_BOMB)
			p->st.bombs++;
		error_event(p, SM_PIPE_CONTENT, r, why, who, false);
		return false;
	}
	p->st.decoded++;
	p->unit_decoded = true;
	p->unit_wire = ev->length;
	unit(p, p->body_hint, p->ubuf, kept, sm_inflate_produced(p->gz), NULL, 0, false);
	p->unit_decoded = false;
	return true;
}

static void on_grpc(void *ctx, const struct sm_grpc_event *ev)
{
	struct sm_pipe *p = ctx;
	if (ev->type == SM_GRPC_EV_MESSAGE && ev->too_large) {
		/* skipped by the framer: its length only, as a raw unit */
		struct sm_pipe_event pe = {.type = SM_PIPE_EV_PAYLOAD,
		                           .stage = SM_PIPE_PAYLOAD,
		                           .kind = SM_PIPE_KIND_RAW,
		                           .unit = p->unit++,
		                           .length = ev->length,
		                           .excerpt = (const uint8_t *)"",
		                           .compressed = ev->compressed,
		                           .wire_length = ev->length,
		                           .too_large = true};
		p->st.units_cut++;
		emit(p, &pe);
		return;
	}
	if (ev->type == SM_GRPC_EV_MESSAGE) {
		if (ev->compressed && grpc_decode(p, ev))
			return;
		unit(p, p->body_hint, ev->excerpt, ev->excerpt_len, ev->length, NULL, 0,
		     ev->compressed);
		return;
	}
	if (ev->reason == SM_GRPC_R_TOO_LARGE) { /* one message: the framer goes on */
		error_event(p, SM_PIPE_FRAMING, SM_ERR_LIMIT, "too_large", "grpc", false);
		return;
	}
	int r = ev->reason == SM_GRPC_R_TRUNCATED ? SM_ERR_TRUNCATED : SM_ERR_PROTOCOL;
	stage_fail(p, SM_PIPE_FRAMING, r, sm_grpc_reason_str(ev->reason), "grpc");
}

static void on_ws(void *ctx, const struct sm_ws_event *ev)
{
	struct sm_pipe *p = ctx;
	if (ev->type == SM_WS_EV_MESSAGE) {
		enum hint h = ev->opcode == SM_WS_OP_TEXT ? H_SNIFF
		              : p->body_hint == H_MSGPACK ? H_MSGPACK
		                                          : H_RAW;
		/* an inflated message is a unit of its decoded bytes */
		p->unit_decoded = ev->decoded;
		p->unit_wire = ev->length;
		bool comp = ev->compressed && !ev->decoded;
		if (ev->payload && !ev->oversized && !ev->invalid_utf8)
			unit(p, h, ev->payload, ev->payload_len, ev->decoded_length, NULL, 0, comp);
		else
			unit(p, H_RAW, ev->excerpt, ev->excerpt_len, ev->decoded_length, NULL, 0,
			     comp);
		p->unit_decoded = false;
	} else if (ev->type == SM_WS_EV_ERROR &&
	           (ev->error == SM_WS_R_INFLATE_CORRUPT || ev->error == SM_WS_R_INFLATE_BOMB ||
	            ev->error == SM_WS_R_INFLATE_NOMEM)) {
		int r = ev->error == SM_WS_R_INFLATE_BOMB    ? SM_ERR_BOMB
		        : ev->error == SM_WS_R_INFLATE_NOMEM ? SM_ERR_NOMEM
		                                             : SM_ERR_INVALID;
		p->st.bombs += r == SM_ERR_BOMB;
		error_event(p, SM_PIPE_CONTENT, r,
		            r == SM_ERR_BOMB    ? "bomb"
		            : r == SM_ERR_NOMEM ? "nomem"
		                                : "corrupt",
		            "permessage-deflate", false);
	} else if (ev->type == SM_WS_EV_ERROR) {
		if (ev->fatal)
			stage_fail(p, SM_PIPE_FRAMING, SM_ERR_PROTOCOL, sm_ws_reason_str(ev->error),
			           "websocket");
		else
			error_event(p, SM_PIPE_FRAMING,
			            ev->error == SM_WS_R_TRUNCATED ? SM_ERR_TRUNCATED
			                                           : SM_ERR_PROTOCOL,
			            sm_ws_reason_str(ev->error), "websocket", false);
	}
}

/* ---- stage plumbing ----------------------------------------------------- */

static void to_framing(struct sm_pipe *p, const uint8_t *d, size_t n)
{
	ex_put(p, SM_PIPE_FRAMING, d, n);
	if (!stage_live(p, SM_PIPE_FRAMING))
		return;
	long r = (long)n;
	switch (p->framing) {
	case SM_PIPE_FRAME_NONE: {
		size_t room = p->ucap - p->ulen;
		size_t k = n < room ? n : room;
		memcpy(p->ubuf + p->ulen, d, k);
		p->ulen += k;
		p->utotal += n;
		break;
	}
	case SM_PIPE_FRAME_SSE: r = sm_sse_feed(p->sse, d, n); break;
	case SM_PIPE_FRAME_GRPC: r = sm_grpc_feed(p->grpc, d, n); break;
	case SM_PIPE_FRAME_WEBSOCKET: r = sm_ws_feed(p->ws, d, n); break;
	}
	if (r < 0)
		stage_fail(p, SM_PIPE_FRAMING, (int)r, sm_result_str((int)r),
		           sm_pipe_framing_str(p->framing));
}

static int content_out(void *arg, const uint8_t *d, size_t n)
{
	to_framing(arg, d, n);
	return 0;
}

static void content_fail(struct sm_pipe *p, int r)
{
	const char *who = sm_content_failed_name(&p->content);
	if (p->content.reason == SM_CONTENT_BOMB && !(p->failed_mask & (1u << SM_PIPE_CONTENT)))
		p->st.bombs++;
	stage_fail(p, SM_PIPE_CONTENT, r, sm_content_reason_str(p->content.reason),
	           *who ? who : "content");
}

static int to_content(void *arg, const uint8_t *d, size_t n)
{
	struct sm_pipe *p = arg;
	ex_put(p, SM_PIPE_CONTENT, d, n);
	if (!stage_live(p, SM_PIPE_CONTENT))
		return 0;
	int r = sm_content_write(&p->content, d, n);
	if (r)
		content_fail(p, r);
	return 0;
}

long sm_pipe_feed(struct sm_pipe *p, const uint8_t *buf, size_t n)
{
	if (p->finished)
		return SM_ERR_STATE;
	if (!p->chunked_on) {
		to_content(p, buf, n);
		return (long)n;
	}
	if (!stage_live(p, SM_PIPE_TRANSFER)) {
		ex_put(p, SM_PIPE_TRANSFER, buf, n);
		return (long)n;
	}
	long r = sm_chunked_feed(&p->chunked, buf, n, to_content, p);
	if (r < 0) {
		ex_put(p, SM_PIPE_TRANSFER, buf, n);
		stage_fail(p, SM_PIPE_TRANSFER, (int)r, sm_chunked_reason_str(p->chunked.reason),
		           "chunked");
		return (long)n;
	}
	ex_put(p, SM_PIPE_TRANSFER, buf, (size_t)r);
	return r;
}

int sm_pipe_finish(struct sm_pipe *p)
{
	if (p->finished)
		return SM_ERR_STATE;
	p->finished = true;
	if (p->chunked_on && stage_live(p, SM_PIPE_TRANSFER)) {
		int r = sm_chunked_finish(&p->chunked);
		if (r)
			stage_fail(p, SM_PIPE_TRANSFER, r, sm_chunked_reason_str(p->chunked.reason),
			           "chunked");
	}
	if (stage_live(p, SM_PIPE_CONTENT)) {
		int r = sm_content_finish(&p->content);
		if (r)
			content_fail(p, r);
	}
	if (stage_live(p, SM_PIPE_FRAMING)) {
		int r = SM_OK;
		switch (p->framing) {
		case SM_PIPE_FRAME_NONE:
			p->partial = p->content.cut;
			if (p->utotal > 0)
				unit(p, p->body_hint, p->ubuf, p->ulen, p->utotal, NULL, 0, false);
			p->partial = false;
			break;
		case SM_PIPE_FRAME_SSE:
			sm_sse_finish(p->sse); /* a flushed partial event is not a failure */
			break;
		case SM_PIPE_FRAME_GRPC: r = sm_grpc_finish(p->grpc); break;
		case SM_PIPE_FRAME_WEBSOCKET:
			r = sm_ws_finish(p->ws);
			if (r == SM_ERR_TRUNCATED)
				r = SM_OK; /* the cut message was reported as events */
			break;
		}
		if (r < 0)
			stage_fail(p, SM_PIPE_FRAMING, r, sm_result_str(r),
			           sm_pipe_framing_str(p->framing));
	}
	if (p->failed >= 0) {
		int st = p->failed;
		struct sm_pipe_event ev = {.type = SM_PIPE_EV_PAYLOAD,
		                           .stage = st,
		                           .kind = SM_PIPE_KIND_RAW,
		                           .unit = p->unit++,
		                           .length = p->st.in_bytes[st],
		                           .wire_length = p->st.in_bytes[st],
		                           .excerpt = p->ex[st],
		                           .excerpt_len = p->ex_len[st]};
		emit(p, &ev);
	}
	return p->first_result;
}

/* ---- selection ---------------------------------------------------------- */

/* Media type before ';', trimmed, compared case-insensitively. */
static bool mt_is(const char *t, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(t, want, n) == 0;
}

static bool mt_prefix(const char *t, size_t n, const char *want)
{
	size_t k = strlen(want);
	return n >= k && strncasecmp(t, want, k) == 0;
}

static bool mt_suffix(const char *t, size_t n, const char *want)
{
	size_t k = strlen(want);
	return n >= k && strncasecmp(t + n - k, want, k) == 0;
}

static void choose_type(const struct sm_pipe_headers *h, enum sm_pipe_framing *framing,
                        enum hint *body_hint)
{
	const char *t = h->content_type ? h->content_type : "";
	size_t n = h->content_type ? h->content_type_len : 0;
	size_t e = 0;
	while (e < n && t[e] != ';')
		e++;
	while (n > 0 && e > 0 && (t[e - 1] == ' ' || t[e - 1] == '\t'))
		e--;
	while (e > 0 && (*t == ' ' || *t == '\t'))
		t++, e--;
	n = e;

	*framing = SM_PIPE_FRAME_NONE;
	*body_hint = H_RAW;
	if (mt_is(t, n, "text/event-stream")) {
		*framing = SM_PIPE_FRAME_SSE;
	} else if (mt_is(t, n, "application/grpc") || mt_prefix(t, n, "application/grpc+")) {
		*framing = SM_PIPE_FRAME_GRPC;
		*body_hint = mt_is(t, n, "application/grpc+json") ? H_JSON : H_RAW;
	} else if (mt_is(t, n, "application/msgpack") || mt_is(t, n, "application/x-msgpack") ||
	           mt_is(t, n, "application/vnd.msgpack")) {
		*body_hint = H_MSGPACK;
	} else if (mt_is(t, n, "application/json") || mt_is(t, n, "text/json") ||
	           mt_suffix(t, n, "+json") || mt_is(t, n, "application/javascript") ||
	           mt_is(t, n, "text/javascript") || mt_is(t, n, "application/x-javascript")) {
		*body_hint = H_JSON;
	} else if (mt_prefix(t, n, "text/")) {
		*body_hint = H_SNIFF;
	}
}

/* Transfer-Encoding: chunked when it is the last coding; codings listed
 * before it are content codings applied after the Content-Encoding ones.
 * Writes the combined list into out; returns its length, or SIZE_MAX when it
 * does not fit (treated as too many codings). */
static size_t codings(const struct sm_pipe_headers *h, bool *chunked, char *out, size_t cap)
{
	*chunked = false;
	const char *te = h->transfer_encoding;
	size_t n = te ? h->transfer_encoding_len : 0;
	while (n > 0 && (te[n - 1] == ' ' || te[n - 1] == '\t'))
		n--;
	if (n >= 7 && strncasecmp(te + n - 7, "chunked", 7) == 0 &&
	    (n == 7 || te[n - 8] == ',' || te[n - 8] == ' ' || te[n - 8] == '\t')) {
		*chunked = true;
		n -= 7;
	}
	size_t ce = h->content_encoding ? h->content_encoding_len : 0;
	if (ce + 1 + n > cap)
		return SIZE_MAX;
	if (ce)
		memcpy(out, h->content_encoding, ce);
	size_t k = ce;
	if (n > 0) {
		out[k++] = ',';
		memcpy(out + k, te, n);
		k += n;
	}
	return k;
}

static void grpc_encoding(struct sm_pipe *p, const struct sm_pipe_headers *h)
{
	const char *v = h->grpc_encoding;
	size_t n = v ? h->grpc_encoding_len : 0;
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	while (n > 0 && (*v == ' ' || *v == '\t'))
		v++, n--;
	p->genc = n == 0                    ? GENC_NONE
	          : mt_is(v, n, "identity") ? GENC_IDENTITY
	          : mt_is(v, n, "gzip")     ? GENC_GZIP
	          : mt_is(v, n, "deflate")  ? GENC_DEFLATE
	                                    : GENC_UNKNOWN;
}

struct sm_pipe *sm_pipe_new(const struct sm_pipe_config *cfg, const struct sm_pipe_headers *h,
                            sm_pipe_cb cb, void *ctx)
{
	if (!cb || cfg->max_unit < 64 || cfg->excerpt > cfg->max_unit ||
	    cfg->msgpack.max_output == 0 || (cfg->prefix && cfg->prefix < cfg->excerpt))
		return NULL;
	size_t json = cfg->excerpt; /* sm_msgpack_to_json_prefix() stores no more */
	enum sm_pipe_framing f;
	enum hint hint;
	choose_type(h, &f, &hint);
	/* The max_unit buffer holds a whole body kept as one unit (no framing)
	 * or gRPC messages decoded into it; SSE events and WebSocket messages
	 * come with their own buffers. */
	bool unit_buf = !h->websocket && (f == SM_PIPE_FRAME_NONE || f == SM_PIPE_FRAME_GRPC);
	size_t ubytes = unit_buf ? cfg->max_unit : 0;
	struct sm_content_limits cl = cfg->content;
	if (cfg->prefix && !h->websocket && f == SM_PIPE_FRAME_NONE) {
		cl.prefix = cfg->prefix; /* a whole body: only its first bytes */
		if (ubytes > cfg->prefix)
			ubytes = cfg->prefix;
	}
	size_t total = sizeof(struct sm_pipe) + 3 * (size_t)cfg->excerpt + ubytes + json;
	/* only the struct is zeroed: the unit buffer (max_unit, often 1 MiB)
	 * is written before it is read, and zeroing it per message dominated
	 * the observer's cost */
	struct sm_pipe *p = malloc(total);
	if (!p)
		return NULL;
	memset(p, 0, sizeof(*p));
	p->cfg = *cfg;
	p->cb = cb;
	p->ctx = ctx;
	p->failed = -1;
	uint8_t *m = (uint8_t *)(p + 1);
	for (int i = 0; i < 3; i++, m += cfg->excerpt)
		p->ex[i] = m;
	p->ubuf = ubytes ? m : NULL; /* SSE and WebSocket pipelines have none */
	p->ucap = ubytes;
	p->json = (char *)(m + ubytes);

	if (sm_msgpack_init(&p->mp, &cfg->msgpack) != SM_OK ||
	    sm_antihijack_init(&p->ah, cfg->guards, cfg->n_guards) != SM_OK)
		goto fail;
	/* Text and JSON excerpts need the guard window and the excerpt; msgpack
	 * may need several input bytes per JSON byte: the whole prefix. */
	size_t need = cfg->excerpt + sm_antihijack_window(&p->ah);
	if (cl.prefix && hint != H_MSGPACK && need < cl.prefix)
		cl.prefix = need;

	if (h->websocket) {
		p->framing = SM_PIPE_FRAME_WEBSOCKET;
		p->body_hint = h->ws_binary_msgpack ? H_MSGPACK : H_RAW;
		struct sm_ws_config wc = {.dir = h->ws_client_to_server ? SM_WS_CLIENT_TO_SERVER
		                                                        : SM_WS_SERVER_TO_CLIENT,
		                          .permessage_deflate = h->ws_deflate,
		                          /* a 15-bit window with takeover decodes what
		                             any parameters produce */
		                          .inflate = h->ws_deflate,
		                          .max_message = cfg->max_event,
		                          .excerpt = cfg->excerpt ? cfg->excerpt : 1};
		p->ws = sm_ws_new(&wc, on_ws, p);
		if (!p->ws)
			goto fail;
		sm_content_init(&p->content, "", 0, &cfg->content, content_out, p);
		return p;
	}

	char list[1024];
	size_t ln = codings(h, &p->chunked_on, list, sizeof(list));
	if (h->transfer_removed)
		p->chunked_on = false;
	sm_chunked_init(&p->chunked, &cfg->chunked);
	/* A failure here is reported by the first feed or finish (the stack's
	 * result is sticky). */
	if (ln == SIZE_MAX) {
		sm_content_init(&p->content, "", 0, &cl, content_out, p);
		p->content.result = SM_ERR_LIMIT;
		p->content.reason = SM_CONTENT_TOO_DEEP;
	} else {
		sm_content_init(&p->content, list, ln, &cl, content_out, p);
	}

	p->framing = f;
	p->body_hint = hint;
	if (p->framing == SM_PIPE_FRAME_SSE) {
		struct sm_sse_config sc = {.max_event = cfg->max_event};
		p->sse = sm_sse_new(&sc, on_sse, p);
		if (!p->sse)
			goto fail;
	} else if (p->framing == SM_PIPE_FRAME_GRPC) {
		struct sm_grpc_config gc = {.max_message = cfg->max_event,
		                            .excerpt = cfg->max_unit};
		p->grpc = sm_grpc_new(&gc, on_grpc, p);
		if (!p->grpc)
			goto fail;
		grpc_encoding(p, h);
	}
	return p;
fail:
	sm_pipe_free(p);
	return NULL;
}

void sm_pipe_free(struct sm_pipe *p)
{
	if (!p)
		return;
	sm_content_free(&p->content);
	sm_msgpack_free(&p->mp);
	if (p->sse)
		sm_sse_free(p->sse);
	if (p->grpc)
		sm_grpc_free(p->grpc);
	sm_inflate_free(p->gz);
	if (p->ws)
		sm_ws_free(p->ws);
	free(p);
}

const struct sm_pipe_stats *sm_pipe_stats(const struct sm_pipe *p)
{
	return &p->st;
}

enum sm_pipe_framing sm_pipe_framing(const struct sm_pipe *p)
{
	return p->framing;
}

bool sm_pipe_chunked(const struct sm_pipe *p)
{
	return p->chunked_on;
}

const char *sm_pipe_stage_str(enum sm_pipe_stage s)
{
	switch (s) {
	case SM_PIPE_TRANSFER: return "transfer";
	case SM_PIPE_CONTENT: return "content";
	case SM_PIPE_FRAMING: return "framing";
	case SM_PIPE_PAYLOAD: return "payload";
	}
	return "unknown";
}

const char *sm_pipe_kind_str(enum sm_pipe_kind k)
{
	switch (k) {
	case SM_PIPE_KIND_RAW: return "raw";
	case SM_PIPE_KIND_TEXT: return "text";
	case SM_PIPE_KIND_JSON: return "json";
	case SM_PIPE_KIND_MSGPACK: return "msgpack";
	}
	return "unknown";
}

const char *sm_pipe_framing_str(enum sm_pipe_framing f)
{
	switch (f) {
	case SM_PIPE_FRAME_NONE: return "none";
	case SM_PIPE_FRAME_SSE: return "sse";
	case SM_PIPE_FRAME_GRPC: return "grpc";
	case SM_PIPE_FRAME_WEBSOCKET: return "websocket";
	}
	return "unknown";
}
