/* bench/bh2: soth-bench's HTTP/2 client session. Two GET streams (ids 1
 * and 3) are submitted, then hand-built server frames are fed: a table of
 * responses, resets, GOAWAYs and protocol violations, each fed whole, split
 * at every byte boundary and in random pieces (fixed seed), with the
 * client's output drained after every feed; the outcome of each stream and
 * of the connection must be the same every time. The module belongs to the
 * soth-bench executable, not the soth library: compile it in. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bh2.c"

#define MAXB 512

struct buf {
	uint8_t b[MAXB];
	size_t n;
};

static void frame(struct buf *o, uint8_t type, uint8_t flags, uint32_t sid, const void *p,
                  size_t len)
{
	cr_assert(o->n + 9 + len <= MAXB);
	uint8_t *d = o->b + o->n;
	d[0] = (uint8_t)(len >> 16);
	d[1] = (uint8_t)(len >> 8);
	d[2] = (uint8_t)len;
	d[3] = type;
	d[4] = flags;
	d[5] = (uint8_t)(sid >> 24);
	d[6] = (uint8_t)(sid >> 16);
	d[7] = (uint8_t)(sid >> 8);
	d[8] = (uint8_t)sid;
	if (len)
		memcpy(d + 9, p, len);
	o->n += 9 + len;
}

#define END_STREAM  0x1
#define END_HEADERS 0x4
static const uint8_t ST200[] = {0x88};                      /* :status 200 (static 8) */
static const uint8_t ST404[] = {0x8d};                      /* :status 404 (static 13) */
static const uint8_t ST100[] = {0x08, 0x03, '1', '0', '0'}; /* :status 100, literal */
static const uint8_t ST200_CL10[] = {0x88, 0x0f, 0x0d, 0x02, '1', '0'}; /* content-length: 10 */
static const uint8_t NOSTATUS[] = {0x0f, 0x0d, 0x01, '0'};              /* content-length: 0 only */

static void settings(struct buf *o)
{
	frame(o, 4, 0, 0, NULL, 0);
}

static void rst(struct buf *o, uint32_t sid, uint32_t code)
{
	uint8_t p[4] = {(uint8_t)(code >> 24), (uint8_t)(code >> 16), (uint8_t)(code >> 8),
	                (uint8_t)code};
	frame(o, 3, 0, sid, p, 4);
}

static void goaway(struct buf *o, uint32_t last, uint32_t code)
{
	uint8_t p[8] = {(uint8_t)(last >> 24), (uint8_t)(last >> 16), (uint8_t)(last >> 8),
	                (uint8_t)last,         (uint8_t)(code >> 24), (uint8_t)(code >> 16),
	                (uint8_t)(code >> 8),  (uint8_t)code};
	frame(o, 7, 0, 0, p, 8);
}

static void ok_200(struct buf *o, uint32_t sid)
{
	frame(o, 1, END_HEADERS, sid, ST200, sizeof(ST200));
	frame(o, 0, END_STREAM, sid, "hello", 5);
}

struct want {
	enum sm_bh2_outcome outcome;
	unsigned status;
	uint64_t data;
	unsigned interim;
	uint32_t code;
};

struct hcase {
	const char *what;
	void (*build)(struct buf *o);
	unsigned nres;          /* results expected (tags 1 then 3 order as listed) */
	struct want res[2];     /* indexed by stream: [0] = stream 1, [1] = stream 3 */
	enum sm_bh2_reason why; /* connection state after everything */
	int goaway;
};

static void b_two_ok(struct buf *o)
{
	settings(o);
	ok_200(o, 1);
	ok_200(o, 3);
}
static void b_404(struct buf *o)
{
	settings(o);
	frame(o, 1, END_HEADERS | END_STREAM, 1, ST404, sizeof(ST404));
	ok_200(o, 3);
}
static void b_rst(struct buf *o)
{
	settings(o);
	rst(o, 1, 2); /* INTERNAL_ERROR */
	ok_200(o, 3);
}
static void b_refused(struct buf *o)
{
	settings(o);
	rst(o, 1, 7); /* REFUSED_STREAM */
	ok_200(o, 3);
}
static void b_goaway_graceful(struct buf *o)
{
	settings(o);
	goaway(o, 1, 0);
	ok_200(o, 1);
}
static void b_goaway_error(struct buf *o)
{
	settings(o);
	ok_200(o, 1);
	goaway(o, 1, 2);
}
static void b_cl_mismatch(struct buf *o)
{
	settings(o);
	frame(o, 1, END_HEADERS, 1, ST200_CL10, sizeof(ST200_CL10));
	frame(o, 0, END_STREAM, 1, "hello", 5);
	ok_200(o, 3);
}
static void b_interim(struct buf *o)
{
	settings(o);
	frame(o, 1, END_HEADERS, 1, ST100, sizeof(ST100));
	ok_200(o, 1);
	ok_200(o, 3);
}
static void b_no_status(struct buf *o)
{
	settings(o);
	frame(o, 1, END_HEADERS | END_STREAM, 1, NOSTATUS, sizeof(NOSTATUS));
	ok_200(o, 3);
}
static void b_data_on_stream0(struct buf *o)
{
	settings(o);
	frame(o, 0, 0, 0, "x", 1); /* connection error PROTOCOL_ERROR */
	ok_200(o, 1);
}
static void b_trailers(struct buf *o)
{
	settings(o);
	frame(o, 1, END_HEADERS, 1, ST200, sizeof(ST200));
	frame(o, 0, 0, 1, "abc", 3);
	static const uint8_t tr[] = {0x00, 0x01, 'x', 0x01, 'y'}; /* x: y */
	frame(o, 1, END_HEADERS | END_STREAM, 1, tr, sizeof(tr));
	ok_200(o, 3);
}
static void b_bad_preface(struct buf *o)
{
	frame(o, 1, END_HEADERS, 1, ST200, sizeof(ST200)); /* no SETTINGS first */
}

static const struct hcase cases[] = {
        {"two 200", b_two_ok, 2, {{SM_BH2_DONE, 200, 5}, {SM_BH2_DONE, 200, 5}}},
        {"404 headers only", b_404, 2, {{SM_BH2_DONE, 404, 0}, {SM_BH2_DONE, 200, 5}}},
        {"rst internal", b_rst, 2, {{SM_BH2_RESET, 0, 0, 0, 2}, {SM_BH2_DONE, 200, 5}}},
        {"rst refused", b_refused, 2, {{SM_BH2_REFUSED, 0, 0, 0, 7}, {SM_BH2_DONE, 200, 5}}},
        {"goaway graceful",
         b_goaway_graceful,
         2,
         {{SM_BH2_DONE, 200, 5}, {SM_BH2_REFUSED, 0, 0, 0, 7}},
         SM_BH2_R_OK,
         1},
        {"goaway error",
         b_goaway_error,
         2,
         {{SM_BH2_DONE, 200, 5}, {SM_BH2_BROKEN, 0, 0, 0, 2}},
         SM_BH2_R_PEER_GOAWAY,
         1},
        /* DATA is counted per frame received whole and valid: nghttp2 hands
         * over the chunks of a frame it then refuses in a number that
         * depends on where the input was cut */
        {"content-length mismatch",
         b_cl_mismatch,
         2,
         {{SM_BH2_BROKEN, 200, 0, 0, 1}, {SM_BH2_DONE, 200, 5}}},
        {"interim 100", b_interim, 2, {{SM_BH2_DONE, 200, 5, 1}, {SM_BH2_DONE, 200, 5}}},
        {"no :status", b_no_status, 2, {{SM_BH2_BROKEN, 0, 0, 0, 1}, {SM_BH2_DONE, 200, 5}}},
        {"trailers", b_trailers, 2, {{SM_BH2_DONE, 200, 3}, {SM_BH2_DONE, 200, 5}}},
        /* a connection error ends every open stream: BROKEN, the GOAWAY's code */
        {"DATA on stream 0",
         b_data_on_stream0,
         2,
         {{SM_BH2_BROKEN, 0, 0, 0, 1}, {SM_BH2_BROKEN, 0, 0, 0, 1}},
         SM_BH2_R_LOCAL_GOAWAY},
        {"no SETTINGS first",
         b_bad_preface,
         2,
         {{SM_BH2_BROKEN, 0, 0, 0, 1}, {SM_BH2_BROKEN, 0, 0, 0, 1}},
         SM_BH2_R_LOCAL_GOAWAY},
};

struct outcome {
	unsigned nres;
	struct sm_bh2_result r[2]; /* by stream: tag 1 -> [0], tag 3 -> [1] */
	int seen[2];
	enum sm_bh2_reason why;
	int goaway;
	int feed_err;
};

static void drain_out(struct sm_bh2 *h, size_t *total, int expect_magic)
{
	const uint8_t *p;
	size_t n;
	while ((n = sm_bh2_out(h, &p)) > 0) {
		if (expect_magic && *total == 0)
			cr_assert(n >= 24 &&
			          memcmp(p, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24) == 0);
		*total += n;
		sm_bh2_out_done(h, n);
	}
}

static void pop(struct sm_bh2 *h, struct outcome *o)
{
	struct sm_bh2_result r;
	while (sm_bh2_next_result(h, &r)) {
		cr_assert(r.tag == 1 || r.tag == 3, "unknown tag %llu", (unsigned long long)r.tag);
		unsigned i = r.tag == 1 ? 0 : 1;
		cr_assert(!o->seen[i], "tag %llu reported twice", (unsigned long long)r.tag);
		o->seen[i] = 1;
		o->r[i] = r;
		o->nres++;
	}
}

/* cuts[]: piece lengths, 0-terminated; NULL = whole. */
static struct outcome run(const struct buf *in, const size_t *cuts)
{
	struct outcome o = {0};
	struct sm_bh2 *h = sm_bh2_new(4);
	cr_assert_not_null(h);
	struct sm_bh2_req req = {"https", "example.test", "/small", "soth-bench/test"};
	cr_assert_eq(sm_bh2_open(h, &req), SM_OK);
	cr_assert_eq(sm_bh2_submit(h, 1), 1);
	cr_assert_eq(sm_bh2_submit(h, 3), 3);
	cr_assert_eq(sm_bh2_active(h), 2u);
	size_t sent = 0;
	drain_out(h, &sent, 1);
	cr_assert(sent > 24);
	size_t off = 0;
	unsigned k = 0;
	while (off < in->n) {
		size_t len = in->n - off;
		if (cuts && cuts[k]) {
			len = cuts[k++];
			if (len > in->n - off)
				len = in->n - off;
		}
		long rc = sm_bh2_feed(h, in->b + off, len);
		if (rc < 0) {
			o.feed_err = 1;
			break;
		}
		cr_assert_eq(rc, (long)len);
		off += len;
		drain_out(h, &sent, 0);
		pop(h, &o);
	}
	drain_out(h, &sent, 0);
	pop(h, &o);
	o.why = sm_bh2_failed(h);
	o.goaway = sm_bh2_goaway(h, NULL, NULL);
	cr_assert_eq(sm_bh2_active(h) + o.nres, 2u, "active %u + results %u", sm_bh2_active(h),
	             o.nres);
	sm_bh2_close(h);
	cr_assert_eq(sm_bh2_active(h), 0u);
	sm_bh2_free(h);
	return o;
}

static void check(const struct hcase *c, const struct outcome *o, const char *how)
{
	cr_assert_eq(o->why, c->why, "%s (%s): connection %s want %s", c->what, how,
	             sm_bh2_reason_str(o->why), sm_bh2_reason_str(c->why));
	cr_assert_eq(o->goaway, c->goaway, "%s (%s): goaway", c->what, how);
	cr_assert_eq(o->nres, c->nres, "%s (%s): %u results", c->what, how, o->nres);
	for (unsigned i = 0; i < 2; i++) {
		if (!o->seen[i])
			continue;
		const struct sm_bh2_result *r = &o->r[i];
		const struct want *w = &c->res[i];
		cr_assert_eq(r->outcome, w->outcome, "%s (%s): stream %u outcome %s want %s",
		             c->what, how, i ? 3 : 1, sm_bh2_outcome_str(r->outcome),
		             sm_bh2_outcome_str(w->outcome));
		cr_assert_eq(r->status, w->status, "%s (%s): stream %u status %u", c->what, how,
		             i ? 3 : 1, r->status);
		cr_assert_eq(r->data_bytes, w->data, "%s (%s): data", c->what, how);
		cr_assert_eq(r->interim, w->interim, "%s (%s): interim", c->what, how);
		if (r->outcome != SM_BH2_DONE)
			cr_assert_eq(r->error_code, w->code, "%s (%s): code %u", c->what, how,
			             r->error_code);
		if (r->outcome == SM_BH2_DONE)
			cr_assert(r->bytes > r->data_bytes, "%s (%s): header bytes counted",
			          c->what, how);
	}
}

static const size_t NCASES = sizeof(cases) / sizeof(cases[0]);

Test(bh2, table_whole)
{
	for (size_t i = 0; i < NCASES; i++) {
		struct buf b = {0};
		cases[i].build(&b);
		struct outcome o = run(&b, NULL);
		check(&cases[i], &o, "whole");
	}
}

Test(bh2, table_split_at_every_byte)
{
	for (size_t i = 0; i < NCASES; i++) {
		struct buf b = {0};
		cases[i].build(&b);
		for (size_t at = 1; at < b.n; at++) {
			size_t cuts[] = {at, b.n - at, 0};
			struct outcome o = run(&b, cuts);
			check(&cases[i], &o, "split");
		}
	}
}

Test(bh2, table_byte_by_byte_and_random_pieces)
{
	srand(1234);
	for (size_t i = 0; i < NCASES; i++) {
		struct buf b = {0};
		cases[i].build(&b);
		size_t ones[MAXB + 1];
		for (size_t k = 0; k < b.n; k++)
			ones[k] = 1;
		ones[b.n] = 0;
		struct outcome o = run(&b, ones);
		check(&cases[i], &o, "byte by byte");
		for (int round = 0; round < 20; round++) {
			size_t cuts[MAXB + 1], left = b.n, k = 0;
			while (left) {
				size_t piece = 1 + (size_t)rand() % 17;
				if (piece > left)
					piece = left;
				cuts[k++] = piece;
				left -= piece;
			}
			cuts[k] = 0;
			o = run(&b, cuts);
			check(&cases[i], &o, "random pieces");
		}
	}
}

Test(bh2, slots_bound_submissions)
{
	struct sm_bh2 *h = sm_bh2_new(2);
	struct sm_bh2_req req = {"https", "a", "/", NULL};
	cr_assert_eq(sm_bh2_submit(h, 9), SM_ERR_LIMIT, "no session yet");
	cr_assert_eq(sm_bh2_open(h, &req), SM_OK);
	cr_assert(sm_bh2_can_submit(h));
	cr_assert_gt(sm_bh2_submit(h, 1), 0);
	cr_assert_gt(sm_bh2_submit(h, 2), 0);
	cr_assert(!sm_bh2_can_submit(h));
	cr_assert_eq(sm_bh2_submit(h, 3), SM_ERR_LIMIT);
	/* a result frees its slot only once popped */
	size_t sent = 0;
	drain_out(h, &sent, 1);
	struct buf b = {0};
	settings(&b);
	ok_200(&b, 1);
	cr_assert_eq(sm_bh2_feed(h, b.b, b.n), (long)b.n);
	cr_assert_eq(sm_bh2_active(h), 1u);
	cr_assert(!sm_bh2_can_submit(h));
	struct sm_bh2_result r;
	cr_assert(sm_bh2_next_result(h, &r));
	cr_assert_eq(r.tag, 1u);
	cr_assert(sm_bh2_can_submit(h));
	cr_assert(!sm_bh2_next_result(h, &r));
	/* reopen drops everything */
	cr_assert_eq(sm_bh2_open(h, &req), SM_OK);
	cr_assert_eq(sm_bh2_active(h), 0u);
	cr_assert(sm_bh2_can_submit(h));
	sm_bh2_free(h);
	cr_assert_null(sm_bh2_new(0));
	cr_assert_null(sm_bh2_new(SM_BH2_MAX_STREAMS + 1));
}

Test(bh2, request_headers_on_the_wire)
{
	/* decode our own HEADERS with an nghttp2 inflater: the pseudo-headers are right */
	struct sm_bh2 *h = sm_bh2_new(1);
	struct sm_bh2_req req = {"https", "localhost:8443", "/p?q=1", "ua/1"};
	cr_assert_eq(sm_bh2_open(h, &req), SM_OK);
	cr_assert_eq(sm_bh2_submit(h, 7), 1);
	uint8_t wire[1024];
	size_t n = 0;
	const uint8_t *p;
	size_t k;
	while ((k = sm_bh2_out(h, &p)) > 0) {
		cr_assert(n + k <= sizeof(wire));
		memcpy(wire + n, p, k);
		n += k;
		sm_bh2_out_done(h, k);
	}
	/* skip the magic, find the HEADERS frame (type 1) */
	size_t off = 24;
	const uint8_t *hb = NULL;
	size_t hl = 0;
	while (off + 9 <= n) {
		size_t len =
		        ((size_t)wire[off] << 16) | ((size_t)wire[off + 1] << 8) | wire[off + 2];
		if (wire[off + 3] == 1) {
			cr_assert(wire[off + 4] & END_STREAM, "GET ends the stream");
			hb = wire + off + 9;
			hl = len;
		}
		off += 9 + len;
	}
	cr_assert_not_null(hb);
	nghttp2_hd_inflater *inf;
	cr_assert_eq(nghttp2_hd_inflate_new(&inf), 0);
	const char *want[][2] = {
	        {":method", "GET"},  {":scheme", "https"}, {":authority", "localhost:8443"},
	        {":path", "/p?q=1"}, {"accept", "*/*"},    {"user-agent", "ua/1"}};
	unsigned got = 0;
	for (;;) {
		nghttp2_nv nv;
		int fl = 0;
		ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &fl, hb, hl, 1);
		cr_assert_geq(rv, 0);
		hb += rv;
		hl -= (size_t)rv;
		if (fl & NGHTTP2_HD_INFLATE_EMIT) {
			cr_assert_lt(got, 6u);
			cr_assert_eq(nv.namelen, strlen(want[got][0]));
			cr_assert(memcmp(nv.name, want[got][0], nv.namelen) == 0);
			cr_assert_eq(nv.valuelen, strlen(want[got][1]));
			cr_assert(memcmp(nv.value, want[got][1], nv.valuelen) == 0);
			got++;
		}
		if (fl & NGHTTP2_HD_INFLATE_FINAL)
			break;
	}
	cr_assert_eq(got, 6u);
	nghttp2_hd_inflate_del(inf);
	sm_bh2_free(h);
}

Test(bh2, names)
{
	cr_assert_str_eq(sm_bh2_outcome_str(SM_BH2_REFUSED), "refused");
	cr_assert_str_eq(sm_bh2_outcome_str((enum sm_bh2_outcome)99), "unknown");
	cr_assert_str_eq(sm_bh2_reason_str(SM_BH2_R_PEER_GOAWAY), "peer_goaway");
	cr_assert_str_eq(sm_bh2_reason_str((enum sm_bh2_reason)99), "unknown");
}
