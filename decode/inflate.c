/* Streaming inflater for compressed messages (see inflate.h). */
#include "decode/inflate.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/result.h"

#define SCRATCH 4096 /* output past the caller's buffer is inflated here and dropped */

struct sm_inflate {
	struct sm_inflate_config cfg;
	z_stream zs;
	bool zinit;     /* inflateInit2 done (zlib's state allocated) */
	bool lost;      /* RAW with takeover after a failure: nothing decodes any more */
	bool ended;     /* the stream ended inside the current message */
	bool between;   /* the last message ended; the next call starts a new one */
	int result;     /* the current message's failure (sticky), SM_OK */
	uint8_t reason; /* enum sm_inflate_reason of that failure */
	uint64_t produced;
	struct sm_inflate_stats st;
};

static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};

struct sm_inflate *sm_inflate_new(const struct sm_inflate_config *cfg)
{
	if (!cfg || cfg->format > SM_INFLATE_ZLIB)
		return NULL;
	struct sm_inflate *z = calloc(1, sizeof(*z));
	if (!z)
		return NULL;
	z->cfg = *cfg;
	if (!z->cfg.max_output)
		z->cfg.max_output = SM_INFLATE_DEFAULT_MAX_OUTPUT;
	return z;
}

void sm_inflate_free(struct sm_inflate *z)
{
	if (!z)
		return;
	if (z->zinit)
		inflateEnd(&z->zs);
	free(z);
}

static int fail(struct sm_inflate *z, enum sm_inflate_reason r)
{
	static const int results[] = {
	        [SM_INFLATE_OK] = SM_OK,
	        [SM_INFLATE_CORRUPT] = SM_ERR_INVALID,
	        [SM_INFLATE_BOMB] = SM_ERR_BOMB,
	        [SM_INFLATE_NOMEM] = SM_ERR_NOMEM,
	        [SM_INFLATE_TRUNCATED] = SM_ERR_TRUNCATED,
	        [SM_INFLATE_NO_CONTEXT] = SM_ERR_STATE,
	};
	z->reason = (uint8_t)r;
	z->result = results[r];
	z->st.corrupt += r == SM_INFLATE_CORRUPT;
	z->st.bombs += r == SM_INFLATE_BOMB;
	z->st.truncated += r == SM_INFLATE_TRUNCATED;
	return z->result;
}

static bool zstart(struct sm_inflate *z)
{
	if (z->zinit)
		return true;
	/* RAW: a 32 KiB window whatever the sender declared (see inflate.h) */
	int wb = z->cfg.format == SM_INFLATE_GZIP   ? 15 + 16
	         : z->cfg.format == SM_INFLATE_ZLIB ? 15
	                                            : -15;
	memset(&z->zs, 0, sizeof(z->zs));
	if (inflateInit2(&z->zs, wb) != Z_OK)
		return false;
	z->zinit = true;
	return true;
}

/* Inflates in[0..n) into out (then scratch) within the message's budget. */
static int run(struct sm_inflate *z, const uint8_t *in, size_t n, uint8_t *out, size_t cap,
               size_t *len)
{
	uint8_t scratch[SCRATCH];
	if (!zstart(z))
		return fail(z, SM_INFLATE_NOMEM);
	while (n > 0) {
		size_t step = n > UINT_MAX ? UINT_MAX : n;
		z->zs.next_in = (Bytef *)(uintptr_t)in;
		z->zs.avail_in = (uInt)step;
		for (;;) {
			uint8_t *dst = scratch;
			size_t room = SCRATCH;
			if (*len < cap) {
				dst = out + *len;
				room = cap - *len;
			}
			uint64_t left = z->cfg.max_output - z->produced;
			if (room > left + 1) /* one byte past the budget detects the crossing */
				room = (size_t)left + 1;
			if (room > UINT_MAX)
				room = UINT_MAX;
			z->zs.next_out = dst;
			z->zs.avail_out = (uInt)room;
			int r = inflate(&z->zs, Z_SYNC_FLUSH);
			size_t got = room - z->zs.avail_out;
			if (got > left) {
				if (dst != scratch)
					*len += (size_t)left;
				z->produced += left;
				z->st.out_bytes += left;
				return fail(z, SM_INFLATE_BOMB);
			}
			if (dst != scratch)
				*len += got;
			z->produced += got;
			z->st.out_bytes += got;
			if (r == Z_STREAM_END) {
				z->ended = true; /* what follows in the message is ignored */
				return SM_OK;
			}
			if (r == Z_DATA_ERROR || r == Z_NEED_DICT || r == Z_STREAM_ERROR)
				return fail(z, SM_INFLATE_CORRUPT);
			if (r == Z_MEM_ERROR)
				return fail(z, SM_INFLATE_NOMEM);
			if (r == Z_BUF_ERROR || (z->zs.avail_in == 0 && z->zs.avail_out > 0))
				break; /* all input used and all output out */
		}
		in += step;
		n -= step;
	}
	return SM_OK;
}

/* The first call of a message clears what the previous one left readable. */
static void message_begin(struct sm_inflate *z)
{
	if (!z->between)
		return;
	z->between = false;
	z->produced = 0;
	z->reason = SM_INFLATE_OK;
	z->result = SM_OK;
	z->ended = false;
}

int sm_inflate_feed(struct sm_inflate *z, const uint8_t *in, size_t n, uint8_t *out, size_t out_cap,
                    size_t *out_len)
{
	if (z->lost) {
		z->reason = SM_INFLATE_NO_CONTEXT;
		return SM_ERR_STATE;
	}
	message_begin(z);
	z->st.in_bytes += n;
	if (z->result)
		return z->result;
	if (n == 0 || z->ended)
		return SM_OK;
	return run(z, in, n, out, out_cap, out_len);
}

/* RAW with takeover after a BFINAL block: a new stream starts with the old
 * window as its dictionary, as the sender's compressor may still use it. */
static bool carry_window(struct sm_inflate *z)
{
	uint8_t dict[1u << 15];
	uInt dl = 0;
	return inflateGetDictionary(&z->zs, dict, &dl) == Z_OK && inflateReset(&z->zs) == Z_OK &&
	       (!dl || inflateSetDictionary(&z->zs, dict, dl) == Z_OK);
}

static void lose(struct sm_inflate *z)
{
	z->lost = true;
	z->st.lost = 1;
	if (z->zinit) { /* the window is useless now: give the memory back */
		inflateEnd(&z->zs);
		z->zinit = false;
	}
}

int sm_inflate_end(struct sm_inflate *z, uint8_t *out, size_t out_cap, size_t *out_len)
{
	if (z->lost) {
		z->reason = SM_INFLATE_NO_CONTEXT;
		return SM_ERR_STATE;
	}
	message_begin(z);
	bool raw = z->cfg.format == SM_INFLATE_RAW;
	bool takeover = raw && !z->cfg.no_context_takeover;
	int r = z->result;
	if (!r && raw && !z->ended)
		r = run(z, tail, sizeof(tail), out, out_cap, out_len);
	else if (!r && !raw && !z->ended)
		r = fail(z, SM_INFLATE_TRUNCATED);
	z->st.messages++;
	z->between = true;
	if (!r && z->zinit) {
		if (takeover && z->ended && !carry_window(z))
			r = fail(z, SM_INFLATE_NOMEM);
		else if (!takeover && inflateReset(&z->zs) != Z_OK)
			r = fail(z, SM_INFLATE_NOMEM);
	} else if (r && !takeover && z->zinit && inflateReset(&z->zs) != Z_OK) {
		lose(z); /* cannot happen with a valid stream object */
	}
	if (r && takeover)
		lose(z);
	return r;
}

uint64_t sm_inflate_produced(const struct sm_inflate *z)
{
	return z->produced;
}

enum sm_inflate_reason sm_inflate_reason(const struct sm_inflate *z)
{
	return (enum sm_inflate_reason)z->reason;
}

bool sm_inflate_usable(const struct sm_inflate *z)
{
	return !z->lost;
}

const struct sm_inflate_stats *sm_inflate_stats(const struct sm_inflate *z)
{
	return &z->st;
}

const char *sm_inflate_reason_str(enum sm_inflate_reason r)
{
	switch (r) {
	case SM_INFLATE_OK: return "ok";
	case SM_INFLATE_CORRUPT: return "corrupt";
	case SM_INFLATE_BOMB: return "bomb";
	case SM_INFLATE_NOMEM: return "nomem";
	case SM_INFLATE_TRUNCATED: return "truncated";
	case SM_INFLATE_NO_CONTEXT: return "no_context";
	}
	return "unknown";
}
