#include "decode/content.h"

#include <brotli/decode.h>
#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "base/result.h"

/* Prefix mode: returned by the sink once the prefix is delivered, and
 * passed back up by every decoder like a failure; never a reason. */
#define CONTENT_ENOUGH 100

/* ---- identity ---------------------------------------------------------- */

static int id_init(void *ctx, const struct sm_content_limits *lim)
{
	return SM_CONTENT_OK;
}

static int id_write(void *ctx, const uint8_t *in, size_t n, sm_content_sink_fn sink, void *arg)
{
	if (n == 0)
		return SM_CONTENT_OK;
	return sink(arg, in, n);
}

static int id_finish(void *ctx, sm_content_sink_fn sink, void *arg)
{
	return SM_CONTENT_OK;
}

static void id_free(void *ctx)
{
}

/* ---- gzip / deflate via libdeflate (one-shot, bounded input) ----------- */

enum { KIND_GZIP, KIND_DEFLATE };

struct ld_ctx {
	int kind;
	size_t max_input, max_output;
	uint8_t *in; /* grows geometrically up to max_input */
	size_t len, cap;
	struct libdeflate_decompressor *d;
	/* prefix mode: zlib streaming instead (zl_* below) */
	bool stream;
	bool zinit;  /* zs initialized */
	bool raw;    /* deflate: decoding raw deflate (no zlib header) */
	bool zdone;  /* the current stream (gzip member) ended */
	bool ignore; /* input after the end: ignored */
	bool seen;   /* input arrived */
	size_t fed;  /* pieces fed */
	size_t want; /* last stage of the stack: no more output is needed than this */
	size_t produced;
	size_t staged;
	z_stream zs;
	uint8_t stage[SM_CONTENT_PIECE];
};

static int ld_init(struct ld_ctx *c, const struct sm_content_limits *lim, int kind)
{
	c->kind = kind;
	c->max_input = lim->max_input;
	c->max_output = lim->max_output;
	if (lim->prefix) {
		c->stream = true;
		return SM_CONTENT_OK;
	}
	c->d = libdeflate_alloc_decompressor();
	return c->d ? SM_CONTENT_OK : SM_CONTENT_NOMEM;
}

static int zl_write(struct ld_ctx *c, const uint8_t *in, size_t n, sm_content_sink_fn sink,
                    void *arg);
static int zl_finish(struct ld_ctx *c, sm_content_sink_fn sink, void *arg);

static int gz_init(void *ctx, const struct sm_content_limits *lim)
{
	return ld_init(ctx, lim, KIND_GZIP);
}

static int df_init(void *ctx, const struct sm_content_limits *lim)
{
	return ld_init(ctx, lim, KIND_DEFLATE);
}

static int ld_write(void *ctx, const uint8_t *in, size_t n, sm_content_sink_fn sink, void *arg)
{
	struct ld_ctx *c = ctx;
	if (c->stream)
		return zl_write(c, in, n, sink, arg);
	if (n > c->max_input - c->len)
		return SM_CONTENT_TOO_LARGE;
	if (c->len + n > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		while (cap < c->len + n)
			cap = cap > c->max_input / 2 ? c->max_input : cap * 2;
		uint8_t *p = realloc(c->in, cap);
		if (!p)
			return SM_CONTENT_NOMEM;
		c->in = p;
		c->cap = cap;
	}
	memcpy(c->in + c->len, in, n);
	c->len += n;
	return SM_CONTENT_OK;
}

/* zlib header check (RFC 1950 2.2): CM 8, CINFO <= 7, FCHECK, no FDICT. */
static bool looks_zlib(const uint8_t *p, size_t n)
{
	return n >= 2 && (p[0] & 0x0f) == 8 && (p[0] >> 4) <= 7 && ((p[0] << 8) | p[1]) % 31 == 0 &&
	       !(p[1] & 0x20);
}

/* Decodes everything into out[0..cap). Returns a libdeflate result. */
static enum libdeflate_result ld_run(struct ld_ctx *c, uint8_t *out, size_t cap, size_t *out_len)
{
	size_t used_in = 0, got = 0;
	enum libdeflate_result r;
	*out_len = 0;
	if (c->kind == KIND_DEFLATE) {
		if (looks_zlib(c->in, c->len)) {
			r = libdeflate_zlib_decompress_ex(c->d, c->in, c->len, out, cap, &used_in,
			                                  &got);
			if (r != LIBDEFLATE_BAD_DATA) {
				*out_len = got;
				return r;
			}
		}
		r = libdeflate_deflate_decompress_ex(c->d, c->in, c->len, out, cap, &used_in, &got);
		*out_len = got;
		return r;
	}
	size_t off = 0;
	do {
		r = libdeflate_gzip_decompress_ex(c->d, c->in + off, c->len - off, out + *out_len,
		                                  cap - *out_len, &used_in, &got);
		if (r != LIBDEFLATE_SUCCESS)
			return r;
		off += used_in;
		*out_len += got;
		/* Another member follows only if it starts with the gzip magic. */
	} while (c->len - off >= 2 && c->in[off] == 0x1f && c->in[off + 1] == 0x8b);
	return LIBDEFLATE_SUCCESS;
}

static int ld_finish(void *ctx, sm_content_sink_fn sink, void *arg)
{
	struct ld_ctx *c = ctx;
	if (c->stream)
		return zl_finish(c, sink, arg);
	if (c->len == 0)
		return SM_CONTENT_OK;
	/* Start near a typical ratio, double up to the budget: work stays within
	 * 2x budget and memory within the budget. */
	size_t cap = c->len > SIZE_MAX / 4 ? SIZE_MAX : c->len * 4;
	if (cap < 65536)
		cap = 65536;
	for (;;) {
		if (cap > c->max_output)
			cap = c->max_output;
		uint8_t *out = malloc(cap ? cap : 1);
		if (!out)
			return SM_CONTENT_NOMEM;
		size_t len;
		enum libdeflate_result r = ld_run(c, out, cap, &len);
		if (r == LIBDEFLATE_SUCCESS) {
			int s = len ? sink(arg, out, len) : SM_CONTENT_OK;
			free(out);
			return s;
		}
		free(out);
		if (r != LIBDEFLATE_INSUFFICIENT_SPACE)
			return SM_CONTENT_CORRUPT;
		if (cap >= c->max_output)
			return SM_CONTENT_BOMB;
		cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
	}
}

static void ld_free(void *ctx)
{
	struct ld_ctx *c = ctx;
	free(c->in);
	if (c->d)
		libdeflate_free_decompressor(c->d);
	if (c->zinit)
		inflateEnd(&c->zs);
}

/* ---- streaming helpers ------------------------------------------------- */

/* Hands `got` new bytes in buf to the sink, enforcing the budget: the bytes
 * up to the budget are delivered, then bomb. */
static int deliver(size_t *produced, size_t budget, const uint8_t *buf, size_t got,
                   sm_content_sink_fn sink, void *arg)
{
	size_t room = budget - *produced;
	size_t give = got < room ? got : room;
	if (give) {
		int s = sink(arg, buf, give);
		if (s)
			return s;
	}
	*produced += give;
	return got > room ? SM_CONTENT_BOMB : SM_CONTENT_OK;
}

/* Output space for the next call: one byte past the budget is enough to
 * detect the crossing, so no decoder ever runs far beyond it. */
static size_t out_room(size_t produced, size_t budget)
{
	size_t left = budget - produced;
	return left < SM_CONTENT_CHUNK ? left + 1 : SM_CONTENT_CHUNK;
}

typedef int (*feed_fn)(void *ctx, const uint8_t *in, size_t n, sm_content_sink_fn sink, void *arg);

/* Hands the input to `feed` in SM_CONTENT_PIECE pieces cut at fixed offsets
 * of the encoded stream, keeping a partial piece for the next write (or
 * finish). The library therefore sees the same sequence of calls however the
 * body was split, so how much output it releases before a corruption is
 * detected cannot depend on the chunking. */
static int staged_write(uint8_t *stage, size_t *staged, const uint8_t *in, size_t n, feed_fn feed,
                        void *ctx, sm_content_sink_fn sink, void *arg)
{
	while (n > 0) {
		if (*staged == 0 && n >= SM_CONTENT_PIECE) {
			int r = feed(ctx, in, SM_CONTENT_PIECE, sink, arg);
			if (r)
				return r;
			in += SM_CONTENT_PIECE;
			n -= SM_CONTENT_PIECE;
			continue;
		}
		size_t take = SM_CONTENT_PIECE - *staged;
		if (take > n)
			take = n;
		memcpy(stage + *staged, in, take);
		*staged += take;
		in += take;
		n -= take;
		if (*staged == SM_CONTENT_PIECE) {
			*staged = 0;
			int r = feed(ctx, stage, SM_CONTENT_PIECE, sink, arg);
			if (r)
				return r;
		}
	}
	return SM_CONTENT_OK;
}

/* ---- gzip / deflate in prefix mode: zlib, streaming -------------------- */

static int zl_start(struct ld_ctx *c)
{
	int wb = c->kind == KIND_GZIP ? 15 + 16 : c->raw ? -15 : 15;
	if (c->zinit)
		return inflateReset2(&c->zs, wb) == Z_OK ? SM_CONTENT_OK : SM_CONTENT_NOMEM;
	memset(&c->zs, 0, sizeof(c->zs));
	if (inflateInit2(&c->zs, wb) != Z_OK)
		return SM_CONTENT_NOMEM;
	c->zinit = true;
	return SM_CONTENT_OK;
}

/* One piece (the first decides zlib or raw deflate). */
static int zl_feed(void *ctx, const uint8_t *in, size_t n, sm_content_sink_fn sink, void *arg)
{
	struct ld_ctx *c = ctx;
	uint8_t out[4096];
	bool first = c->fed++ == 0;
	if (first) {
		c->raw = c->kind == KIND_DEFLATE && !looks_zlib(in, n);
		int r = zl_start(c);
		if (r)
			return r;
	}
	if (c->ignore)
		return SM_CONTENT_OK;
	c->zs.next_in = (Bytef *)(uintptr_t)in;
	c->zs.avail_in = (uInt)n;
	for (;;) {
		if (c->zdone) {
			/* another gzip member follows only if it starts with the magic */
			if (c->kind != KIND_GZIP || c->zs.avail_in < 2 ||
			    c->zs.next_in[0] != 0x1f || c->zs.next_in[1] != 0x8b) {
				c->ignore = c->zs.avail_in > 0 || c->kind != KIND_GZIP;
				return SM_CONTENT_OK;
			}
			if (inflateReset(&c->zs) != Z_OK)
				return SM_CONTENT_NOMEM;
			c->zdone = false;
		}
		size_t room = out_room(c->produced, c->max_output);
		if (room > sizeof(out))
			room = sizeof(out);
		if (c->want && room > c->want - c->produced)
			room = c->want - c->produced; /* zlib decodes no further than asked */
		c->zs.next_out = out;
		c->zs.avail_out = (uInt)room;
		int r = inflate(&c->zs, Z_NO_FLUSH);
		if (r == Z_DATA_ERROR || r == Z_NEED_DICT || r == Z_STREAM_ERROR) {
			if (first && !c->raw && c->kind == KIND_DEFLATE && c->produced == 0) {
				c->raw = true; /* not zlib after all: raw deflate */
				int s = zl_start(c);
				if (s)
					return s;
				c->zs.next_in = (Bytef *)(uintptr_t)in;
				c->zs.avail_in = (uInt)n;
				continue;
			}
			return SM_CONTENT_CORRUPT;
		}
		if (r == Z_MEM_ERROR)
			return SM_CONTENT_NOMEM;
		int s = deliver(&c->produced, c->max_output, out, room - c->zs.avail_out, sink,
		                arg);
		if (s)
			return s;
		if (r == Z_STREAM_END) {
			c->zdone = true;
			continue;
		}
		if (c->zs.avail_in == 0 && c->zs.avail_out > 0)
			return SM_CONTENT_OK;
		if (r == Z_BUF_ERROR)
			return SM_CONTENT_OK;
	}
}

static int zl_write(struct ld_ctx *c, const uint8_t *in, size_t n, sm_content_sink_fn sink,
                    void *arg)
{
	if (n == 0)
		return SM_CONTENT_OK;
	c->seen = true;
	return staged_write(c->stage, &c->staged, in, n, zl_feed, c, sink, arg);
}

static int zl_finish(struct ld_ctx *c, sm_content_sink_fn sink, void *arg)
{
	if (c->staged) {
		int r = zl_feed(c, c->stage, c->staged, sink, arg);
		c->staged = 0;
		if (r)
			return r;
	}
	return !c->seen || c->zdone ? SM_CONTENT_OK : SM_CONTENT_TRUNCATED;
}

/* ---- brotli (streaming) ------------------------------------------------- */

struct br_ctx {
	BrotliDecoderState *s;
	size_t max_output, produced;
	bool seen, done;
	size_t staged;
	uint8_t stage[SM_CONTENT_PIECE];
	uint8_t buf[SM_CONTENT_CHUNK];
};

static int br_init(void *ctx, const struct sm_content_limits *lim)
{
	struct br_ctx *c = ctx;
	c->max_output = lim->max_output;
	c->s = BrotliDecoderCreateInstance(NULL, NULL, NULL);
	return c->s ? SM_CONTENT_OK : SM_CONTENT_NOMEM;
}

static int br_feed(void *ctx, const uint8_t *in, size_t n, sm_content_sink_fn sink, void *arg)
{
	struct br_ctx *c = ctx;
	if (c->done)
		return SM_CONTENT_TRAILING;
	size_t avail_in = n;
	const uint8_t *next_in = in;
	for (;;) {
		size_t room = out_room(c->produced, c->max_output);
		size_t avail_out = room;
		uint8_t *next_out = c->buf;
		BrotliDecoderResult r = BrotliDecoderDecompressStream(c->s, &avail_in, &next_in,
		                                                      &avail_out, &next_out, NULL);
		int s = deliver(&c->produced, c->max_output, c->buf, room - avail_out, sink, arg);
		if (s)
			return s;
		switch (r) {
		case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT: continue;
		case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
			/* A full output buffer may hide pending output even when
			 * the decoder asks for input: drain it first. */
			if (avail_out == 0)
				continue;
			return SM_CONTENT_OK;
		case BROTLI_DECODER_RESULT_SUCCESS:
			c->done = true;
			return avail_in ? SM_CONTENT_TRAILING : SM_CONTENT_OK;
		default: return SM_CONTENT_CORRUPT;
		}
	}
}

static int br_write(void *ctx, const uint8_t *in, size_t n, sm_content_sink_fn sink, void *arg)
{
	struct br_ctx *c = ctx;
	if (n == 0)
		return SM_CONTENT_OK;
	c->seen = true;
	return staged_write(c->stage, &c->staged, in, n, br_feed, c, sink, arg);
}

static int br_finish(void *ctx, sm_content_sink_fn sink, void *arg)
{
	struct br_ctx *c = ctx;
	if (c->staged) {
		int r = br_feed(c, c->stage, c->staged, sink, arg);
		c->staged = 0;
		if (r)
			return r;
	}
	return !c->seen || c->done ? SM_CONTENT_OK : SM_CONTENT_TRUNCATED;
}

static void br_free(void *ctx)
{
	struct br_ctx *c = ctx;
	if (c->s)
		BrotliDecoderDestroyInstance(c->s);
}

/* ---- zstd (streaming) -------------------------------------------------- */

struct zs_ctx {
	ZSTD_DStream *z;
	size_t max_output, produced;
	bool seen;
	size_t last; /* last ZSTD_decompressStream hint: 0 = at a frame boundary */
	size_t staged;
	uint8_t stage[SM_CONTENT_PIECE];
	uint8_t buf[SM_CONTENT_CHUNK];
};

static int zs_init(void *ctx, const struct sm_content_limits *lim)
{
	struct zs_ctx *c = ctx;
	c->max_output = lim->max_output;
	c->z = ZSTD_createDStream();
	if (!c->z)
		return SM_CONTENT_NOMEM;
	unsigned wl = lim->max_window_log ? lim->max_window_log : 23;
	if (ZSTD_isError(ZSTD_DCtx_setParameter(c->z, ZSTD_d_windowLogMax, (int)wl)))
		return SM_CONTENT_NOMEM;
	return SM_CONTENT_OK;
}

/* Runs the decoder over in (possibly empty) until it has consumed all of it
 * and has no more output buffered. */
static int zs_pump(void *ctx, const uint8_t *in, size_t n, sm_content_sink_fn sink, void *arg)
{
	struct zs_ctx *c = ctx;
	ZSTD_inBuffer ib = {in, n, 0};
	for (;;) {
		size_t room = out_room(c->produced, c->max_output);
		ZSTD_outBuffer ob = {c->buf, room, 0};
		size_t r = ZSTD_decompressStream(c->z, &ob, &ib);
		if (ZSTD_isError(r))
			return ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge
			               ? SM_CONTENT_TOO_LARGE
			               : SM_CONTENT_CORRUPT;
		c->last = r;
		int s = deliver(&c->produced, c->max_output, c->buf, ob.pos, sink, arg);
		if (s)
			return s;
		if (ib.pos == ib.size && ob.pos < ob.size)
			return SM_CONTENT_OK;
	}
}

static int zs_write(void *ctx, const uint8_t *in, size_t n, sm_content_sink_fn sink, void *arg)
{
	struct zs_ctx *c = ctx;
	if (n == 0)
		return SM_CONTENT_OK;
	c->seen = true;
	return staged_write(c->stage, &c->staged, in, n, zs_pump, c, sink, arg);
}

static int zs_finish(void *ctx, sm_content_sink_fn sink, void *arg)
{
	struct zs_ctx *c = ctx;
	if (c->staged) {
		int r = zs_pump(c, c->stage, c->staged, sink, arg);
		c->staged = 0;
		if (r)
			return r;
	}
	if (!c->seen || c->last == 0)
		return SM_CONTENT_OK;
	return SM_CONTENT_TRUNCATED;
}

static void zs_free(void *ctx)
{
	struct zs_ctx *c = ctx;
	if (c->z)
		ZSTD_freeDStream(c->z);
}

/* ---- table and stack ---------------------------------------------------- */

static const struct sm_content_vtable decoders[] = {
        {"identity", 1, id_init, id_write, id_finish, id_free},
        {"gzip", sizeof(struct ld_ctx), gz_init, ld_write, ld_finish, ld_free},
        {"x-gzip", sizeof(struct ld_ctx), gz_init, ld_write, ld_finish, ld_free},
        {"deflate", sizeof(struct ld_ctx), df_init, ld_write, ld_finish, ld_free},
        {"br", sizeof(struct br_ctx), br_init, br_write, br_finish, br_free},
        {"zstd", sizeof(struct zs_ctx), zs_init, zs_write, zs_finish, zs_free},
};

const struct sm_content_vtable *sm_content_find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(decoders) / sizeof(decoders[0]); i++)
		if (strlen(decoders[i].name) == len &&
		    strncasecmp(decoders[i].name, name, len) == 0)
			return &decoders[i];
	return NULL;
}

static int to_result(int reason)
{
	switch (reason) {
	case SM_CONTENT_OK: return SM_OK;
	case SM_CONTENT_UNKNOWN: return SM_ERR_UNSUPPORTED;
	case SM_CONTENT_TOO_DEEP:
	case SM_CONTENT_TOO_LARGE: return SM_ERR_LIMIT;
	case SM_CONTENT_BOMB: return SM_ERR_BOMB;
	case SM_CONTENT_TRUNCATED: return SM_ERR_TRUNCATED;
	case SM_CONTENT_NOMEM: return SM_ERR_NOMEM;
	case SM_CONTENT_SINK: return SM_ERR_STATE;
	default: return SM_ERR_INVALID;
	}
}

/* Output of stage idx: into stage idx+1, or the user sink. Records which
 * stage failed first. */
static int link_sink(void *arg, const uint8_t *p, size_t n)
{
	struct sm_content_link *l = arg;
	struct sm_content *c = l->owner;
	unsigned next = l->idx + 1;
	if (next == c->n) {
		size_t prefix = c->lim.prefix;
		if (prefix && n > prefix - c->out)
			n = prefix - c->out;
		if (n && c->sink(c->sink_arg, p, n))
			return SM_CONTENT_SINK;
		c->out += n;
		return prefix && c->out == prefix ? CONTENT_ENOUGH : SM_CONTENT_OK;
	}
	int r = c->vt[next]->write(c->ctx[next], p, n, link_sink, &c->link[next]);
	if (r && r != CONTENT_ENOUGH && c->failed_stage < 0)
		c->failed_stage = (int)next;
	return r;
}

static bool is_ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

static int init_fail(struct sm_content *c, enum sm_content_reason r)
{
	sm_content_free(c);
	c->reason = r;
	c->result = to_result(r);
	return c->result;
}

int sm_content_init(struct sm_content *c, const char *header, size_t len,
                    const struct sm_content_limits *lim, sm_content_sink_fn sink, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->lim = *lim;
	if (c->lim.prefix > c->lim.max_output)
		c->lim.prefix = c->lim.max_output;
	c->sink = sink;
	c->sink_arg = arg;
	c->failed_stage = -1;
	/* Collect the codings in header order, then reverse. */
	const struct sm_content_vtable *listed[SM_CONTENT_MAX_STACK];
	unsigned k = 0;
	size_t i = 0;
	while (i < len) {
		size_t s = i;
		while (i < len && header[i] != ',')
			i++;
		size_t e = i;
		i++; /* skip the comma */
		while (s < e && is_ows(header[s]))
			s++;
		while (e > s && is_ows(header[e - 1]))
			e--;
		if (s == e)
			continue; /* empty list element */
		const struct sm_content_vtable *vt = sm_content_find(header + s, e - s);
		if (!vt)
			return init_fail(c, SM_CONTENT_UNKNOWN);
		if (k == SM_CONTENT_MAX_STACK)
			return init_fail(c, SM_CONTENT_TOO_DEEP);
		listed[k++] = vt;
	}
	for (unsigned j = 0; j < k; j++) {
		const struct sm_content_vtable *vt = listed[k - 1 - j];
		void *ctx = calloc(1, vt->ctx_size);
		if (!ctx)
			return init_fail(c, SM_CONTENT_NOMEM);
		c->vt[j] = vt;
		c->ctx[j] = ctx;
		c->link[j] = (struct sm_content_link){c, j};
		c->n = j + 1;
		int r = vt->init(ctx, &c->lim);
		if (r)
			return init_fail(c, (enum sm_content_reason)r);
	}
	bool decodes = false;
	for (unsigned j = 0; j < c->n; j++)
		decodes |= c->vt[j] != &decoders[0];
	if (!decodes) /* identity only: the consumer sees the whole body */
		c->lim.prefix = 0;
	const struct sm_content_vtable *last = c->n ? c->vt[c->n - 1] : NULL;
	if (c->lim.prefix && last && last->write == ld_write)
		((struct ld_ctx *)c->ctx[c->n - 1])->want = c->lim.prefix;
	return SM_OK;
}

static int record(struct sm_content *c, int r, unsigned stage)
{
	if (r == SM_CONTENT_OK)
		return SM_OK;
	if (r == CONTENT_ENOUGH) {
		c->cut = true;
		sm_content_free(c); /* nothing more to decode: the memory goes back now */
		return SM_OK;
	}
	if (c->failed_stage < 0)
		c->failed_stage = (int)stage;
	c->reason = (enum sm_content_reason)r;
	c->result = to_result(r);
	return c->result;
}

int sm_content_write(struct sm_content *c, const uint8_t *p, size_t n)
{
	if (c->result)
		return c->result;
	if (c->finished)
		return SM_ERR_STATE;
	if (n == 0 || c->cut)
		return SM_OK;
	if (c->n == 0)
		return c->sink(c->sink_arg, p, n) ? record(c, SM_CONTENT_SINK, 0) : SM_OK;
	return record(c, c->vt[0]->write(c->ctx[0], p, n, link_sink, &c->link[0]), 0);
}

int sm_content_finish(struct sm_content *c)
{
	if (c->result)
		return c->result;
	if (c->finished)
		return SM_ERR_STATE;
	c->finished = true;
	if (c->cut)
		return SM_OK;
	/* Finish in decode order: a one-shot stage's output reaches the later
	 * stages before they are finished. */
	for (unsigned j = 0; j < c->n; j++) {
		int r = c->vt[j]->finish(c->ctx[j], link_sink, &c->link[j]);
		if (r)
			return record(c, r, j);
	}
	return SM_OK;
}

void sm_content_free(struct sm_content *c)
{
	for (unsigned j = 0; j < c->n; j++) {
		c->vt[j]->free(c->ctx[j]);
		free(c->ctx[j]);
		c->ctx[j] = NULL;
	}
	c->n = 0;
}

const char *sm_content_reason_str(enum sm_content_reason r)
{
	switch (r) {
	case SM_CONTENT_OK: return "ok";
	case SM_CONTENT_UNKNOWN: return "unknown";
	case SM_CONTENT_TOO_DEEP: return "too_deep";
	case SM_CONTENT_TOO_LARGE: return "too_large";
	case SM_CONTENT_BOMB: return "bomb";
	case SM_CONTENT_CORRUPT: return "corrupt";
	case SM_CONTENT_TRUNCATED: return "truncated";
	case SM_CONTENT_TRAILING: return "trailing";
	case SM_CONTENT_NOMEM: return "nomem";
	case SM_CONTENT_SINK: return "sink";
	}
	return "unknown";
}

const char *sm_content_failed_name(const struct sm_content *c)
{
	if (c->failed_stage < 0 || (unsigned)c->failed_stage >= SM_CONTENT_MAX_STACK ||
	    !c->vt[c->failed_stage])
		return "";
	return c->vt[c->failed_stage]->name;
}
