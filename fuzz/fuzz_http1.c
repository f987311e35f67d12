/* Fuzz the HTTP/1.1 proxy front in both directions from one input:
 *   byte 0..1: length of the client part (little endian), byte 2: chunk seed,
 *   then client bytes, then upstream bytes.
 * The input is run twice, once fed whole into large outputs and once in
 * seed-sized pieces into tiny outputs; the forwarded bytes and the event
 * sequence must be identical (differential check of resumability).
 * Both runs are observed (sm_h1_set_observer): head/body/end must come in
 * order, the observed payload of each message must be exactly its
 * forwarded body (de-chunked independently here for chunked ones, equal
 * to Content-Length when complete), and identical in both runs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/result.h"
#include "proto/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXIN  8192
#define OUTMAX (4 * MAXIN + 4096)

#define MAXMSG 256

struct msg { /* one observed message */
	uint8_t dir, complete, ended;
	uint32_t flags;
	uint64_t cl;
	size_t wire_start, wire_end; /* in up (dir 0) or down (dir 1) */
	size_t pay_start, pay_end;   /* in pay[dir] */
};

struct run {
	uint8_t up[OUTMAX], down[OUTMAX];
	size_t up_len, down_len;
	uint32_t ev[1024];
	size_t nev;
	uint32_t obs[1024];
	size_t nobs;
	struct sm_h1 *h;
	const struct sm_h1_out *cur; /* the output of the call in progress */
	int cur_dir;                 /* which direction cur carries */
	uint8_t pay[2][OUTMAX];
	size_t pay_len[2];
	struct msg msg[MAXMSG];
	size_t nmsg;
	int open[2]; /* index + 1 of the open message per direction */
};

static struct run r1, r2;

/* observer calls are synchronous, events are popped later: separate logs */
static void note(struct run *r, uint32_t v)
{
	if (r->nobs < 1024)
		r->obs[r->nobs++] = v;
}

static size_t wire_pos(const struct run *r, int dir)
{
	/* the call in progress writes one direction only */
	return (dir ? r->down_len : r->up_len) + (dir == r->cur_dir ? r->cur->len : 0);
}

static void o_head(void *ctx, int dir, const struct sm_h1_event *ev)
{
	struct run *r = ctx;
	if ((dir != 0 && dir != 1) || r->open[dir] || (ev->type == SM_H1_EV_REQUEST) != (dir == 0))
		abort();
	const uint8_t *v;
	size_t vl;
	int has_cl = sm_h1_header_find(r->h, dir, "Content-Length", &v, &vl);
	if (ev->body_bytes) { /* the declared length, as the header says */
		uint64_t cl = 0;
		for (size_t i = 0; i < vl; i++)
			cl = cl * 10 + (uint64_t)(v[i] - '0');
		if (!has_cl || cl != ev->body_bytes)
			abort();
	}
	if ((ev->flags & SM_H1_F_DECHUNKED) &&
	    !sm_h1_header_find(r->h, dir, "transfer-encoding", &v, &vl))
		abort();
	note(r, 0xf0000000u ^ (uint32_t)dir << 20 ^ ev->flags ^ (uint32_t)ev->body_bytes << 8);
	if (r->nmsg == MAXMSG)
		return;
	struct msg *m = &r->msg[r->nmsg++];
	memset(m, 0, sizeof(*m));
	m->dir = (uint8_t)dir;
	m->flags = ev->flags;
	m->cl = ev->body_bytes;
	m->wire_start = wire_pos(r, dir);
	m->pay_start = r->pay_len[dir];
	r->open[dir] = (int)r->nmsg;
}

static void o_body(void *ctx, int dir, const uint8_t *p, size_t n)
{
	struct run *r = ctx;
	if ((dir != 0 && dir != 1) || n == 0 || r->pay_len[dir] + n > OUTMAX)
		abort();
	if (!r->open[dir] && r->nmsg < MAXMSG)
		abort();
	memcpy(r->pay[dir] + r->pay_len[dir], p, n);
	r->pay_len[dir] += n;
}

static void o_end(void *ctx, int dir, int complete)
{
	struct run *r = ctx;
	if ((dir != 0 && dir != 1) || (complete != 0 && complete != 1))
		abort();
	note(r, 0xe0000000u ^ (uint32_t)dir << 20 ^ (uint32_t)complete);
	if (!r->open[dir]) {
		if (r->nmsg < MAXMSG)
			abort(); /* end without head */
		return;
	}
	struct msg *m = &r->msg[r->open[dir] - 1];
	m->ended = 1;
	m->complete = (uint8_t)complete;
	m->wire_end = wire_pos(r, dir);
	m->pay_end = r->pay_len[dir];
	r->open[dir] = 0;
}

static const struct sm_h1_observer observer = {o_head, o_body, o_end};

static int hexv(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A plain de-chunker over bytes the layer already validated (a valid
 * prefix when cut). Writes the payload to out; returns its length, *fin = 1
 * when the last chunk was reached. */
static size_t dechunk(const uint8_t *w, size_t n, uint8_t *out, int *fin)
{
	size_t i = 0, o = 0;
	*fin = 0;
	while (i < n) {
		uint64_t sz = 0;
		while (i < n && hexv(w[i]) >= 0)
			sz = sz << 4 | (uint64_t)hexv(w[i++]);
		while (i < n && w[i] != '\n')
			i++; /* extensions, CR */
		if (i++ >= n)
			break;
		if (sz == 0) {
			*fin = 1;
			break;
		}
		size_t take = n - i < sz ? n - i : (size_t)sz;
		memcpy(out + o, w + i, take);
		o += take;
		i += take + 2; /* CRLF */
	}
	return o;
}

static void check_messages(const struct run *r)
{
	static uint8_t tmp[OUTMAX];
	for (size_t k = 0; k < r->nmsg; k++) {
		const struct msg *m = &r->msg[k];
		if (!m->ended)
			abort(); /* every observed message ends */
		const uint8_t *wire = (m->dir ? r->down : r->up) + m->wire_start;
		size_t wn = m->wire_end - m->wire_start;
		const uint8_t *pay = r->pay[m->dir] + m->pay_start;
		size_t pn = m->pay_end - m->pay_start;
		if (m->flags & SM_H1_F_NO_BODY) {
			if (pn || wn || !m->complete)
				abort();
		} else if (m->flags & SM_H1_F_DECHUNKED) {
			int fin;
			size_t dn = dechunk(wire, wn, tmp, &fin);
			if (dn != pn || memcmp(tmp, pay, pn) != 0 || (m->complete && !fin))
				abort();
		} else {
			if (wn != pn || memcmp(wire, pay, pn) != 0)
				abort();
			if (m->complete && !(m->flags & SM_H1_F_UNTIL_CLOSE) && pn != m->cl)
				abort();
		}
	}
}
static _Alignas(64) uint8_t mem[1 << 18];

static void events(struct sm_h1 *h, struct run *r)
{
	struct sm_h1_event ev;
	while (sm_h1_next_event(h, &ev)) {
		if (ev.type < SM_H1_EV_REQUEST || ev.type > SM_H1_EV_ERROR)
			abort();
		if (ev.type == SM_H1_EV_REQUEST &&
		    (ev.authority->port == 0 ||
		     ev.authority->host_len != strlen(ev.authority->host)))
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
		r->cur = &o;
		r->cur_dir = server;
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
	struct sm_h1_limits lim = {.max_head = 1024,
	                           .max_target = 512,
	                           .max_headers = 16,
	                           .max_pipeline = 4,
	                           .max_trailer = 128};
	memset(r, 0, sizeof(*r));
	struct sm_h1 *h = sm_h1_init(mem, sizeof(mem), &lim);
	if (!h)
		abort();
	r->h = h;
	sm_h1_set_observer(h, &observer, r);
	side(h, r, 0, c, clen, piece, cap);
	side(h, r, 1, s, slen, piece, cap);
	/* responses may have freed the pipeline or released a held request */
	side(h, r, 0, c, 0, piece, cap);
	uint8_t ob[256];
	struct sm_h1_out o = {ob, sizeof(ob), 0};
	r->cur = &o;
	r->cur_dir = 1;
	for (int i = 0; i < 64 && sm_h1_server_eof(h, &o) == SM_AGAIN; i++) {
		append(r->down, &r->down_len, &o);
		o.len = 0;
		events(h, r);
	}
	append(r->down, &r->down_len, &o);
	events(h, r);
	o.len = 0;
	sm_h1_client_eof(h);
	events(h, r);
	check_messages(r);
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
	for (int d = 0; d < 2; d++)
		if (r1.pay_len[d] != r2.pay_len[d] ||
		    memcmp(r1.pay[d], r2.pay[d], r1.pay_len[d]) != 0)
			abort();
	if (r1.nobs != r2.nobs || memcmp(r1.obs, r2.obs, r1.nobs * sizeof(r1.obs[0])) != 0)
		abort();
	if (r1.nev != r2.nev || memcmp(r1.ev, r2.ev, r1.nev * sizeof(r1.ev[0])) != 0)
		abort();
	return 0;
}
