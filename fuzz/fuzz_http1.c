/* Fuzz the HTTP/1.1 proxy front in both directions from one input:
 *   byte 0..1: length of the client part (little endian), byte 2: chunk seed,
 *   then client bytes, then upstream bytes.
 * The input is run twice, once fed whole into large outputs and once in
 * seed-sized pieces into tiny outputs; the forwarded bytes and the event
 * sequence must be identical (differential check of resumability). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "proto/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXIN  8192
#define OUTMAX (4 * MAXIN + 4096)

struct run {
	uint8_t up[OUTMAX], down[OUTMAX];
	size_t up_len, down_len;
	uint32_t ev[1024];
	size_t nev;
};

static struct run r1, r2;
static _Alignas(64) uint8_t mem[1 << 18];

static void events(struct sm_h1 *h, struct run *r)
{
	struct sm_h1_event ev;
	while (sm_h1_next_event(h, &ev)) {
		if (ev.type < SM_H1_EV_REQUEST || ev.type > SM_H1_EV_ERROR)
			abort();
		if (ev.type == SM_H1_EV_REQUEST &&
		    (ev.authority->port == 0 || ev.authority->host_len != strlen(ev.authority->host)))
			abort();
		if (r->nev < 1024)
			r->ev[r->nev++] = (uint32_t)ev.type << 24 ^ (uint32_t)ev.status << 8 ^
					  ev.reason ^ ev.flags << 12 ^ (uint32_t)ev.body_bytes;
	}
}

static void append(uint8_t *acc, size_t *acc_len, const struct sm_h1_out *o)
{
	if (*acc_len + o->len > OUTMAX)
		abort(); /* output grew far beyond the input: a bug */
	memcpy(acc + *acc_len, o->buf, o->len);
	*acc_len += o->len;
}

/* Feeds `in` in pieces of `piece` bytes (0: whole) through outputs of `cap`. */
static int side(struct sm_h1 *h, struct run *r, int server, const uint8_t *in, size_t len,
		size_t piece, size_t cap)
{
	uint8_t ob[OUTMAX];
	size_t have = 0, pos = 0;
	for (int guard = 0; guard < 1000000; guard++) {
		if (piece == 0)
			have = len;
		else if (have - pos == 0 || guard % 2 == 1)
			have = have + piece < len ? have + piece : len;
		struct sm_h1_out o = {ob, cap, 0};
		long n = server ? sm_h1_server_feed(h, in + pos, have - pos, &o)
				: sm_h1_client_feed(h, in + pos, have - pos, &o);
		if (o.len > cap)
			abort();
		append(server ? r->down : r->up, server ? &r->down_len : &r->up_len, &o);
		events(h, r);
		if (n < 0)
			return (int)n;
		if ((size_t)n > have - pos)
			abort();
		pos += (size_t)n;
		if (!server && sm_h1_client_wait(h) == SM_H1_WAIT_HELD) {
			if (sm_h1_release(h) != SM_OK)
				return SM_AGAIN;
			continue;
		}
		if (n == 0 && o.len == 0 && have == len)
			return SM_OK; /* stuck on something only the other side can free */
	}
	abort();
}

static void run(struct run *r, const uint8_t *c, size_t clen, const uint8_t *s, size_t slen,
		size_t piece, size_t cap)
{
	struct sm_h1_limits lim = {.max_head = 1024, .max_target = 512, .max_headers = 16,
				   .max_pipeline = 4, .max_trailer = 128};
	memset(r, 0, sizeof(*r));
	struct sm_h1 *h = sm_h1_init(mem, sizeof(mem), &lim);
	if (!h)
		abort();
	side(h, r, 0, c, clen, piece, cap);
	side(h, r, 1, s, slen, piece, cap);
	/* responses may have freed the pipeline or released a held request */
	side(h, r, 0, c, 0, piece, cap);
	uint8_t ob[256];
	struct sm_h1_out o = {ob, sizeof(ob), 0};
	for (int i = 0; i < 64 && sm_h1_server_eof(h, &o) == SM_AGAIN; i++) {
		append(r->down, &r->down_len, &o);
		o.len = 0;
		events(h, r);
	}
	append(r->down, &r->down_len, &o);
	events(h, r);
	sm_h1_client_eof(h);
	events(h, r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3 || size > MAXIN)
		return 0;
	size_t clen = (size_t)data[0] | (size_t)data[1] << 8;
	size_t piece = 1 + data[2] % 17;
	data += 3;
	size -= 3;
	if (clen > size)
		clen = size;
	run(&r1, data, clen, data + clen, size - clen, 0, OUTMAX);
	run(&r2, data, clen, data + clen, size - clen, piece, 1 + piece % 5);
	if (r1.up_len != r2.up_len || memcmp(r1.up, r2.up, r1.up_len) != 0)
		abort();
	if (r1.down_len != r2.down_len || memcmp(r1.down, r2.down, r1.down_len) != 0)
		abort();
	if (r1.nev != r2.nev || memcmp(r1.ev, r2.ev, r1.nev * sizeof(r1.ev[0])) != 0)
		abort();
	return 0;
}
