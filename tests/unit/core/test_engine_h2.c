/* The flow engine on a fake ring with HTTP/2: the h2 layer (two nghttp2
 * sessions, streams mapped 1:1) and the h2-to-HTTP/1.1 translator layer,
 * chosen by ALPN after the handshakes, between a real nghttp2 browser and
 * origin (tests/unit/proto/h2_testutil.h) over real TLS (in memory), every
 * ciphertext cut into pieces of many sizes. */
#pragma GCC diagnostic ignored "-Wunused-function" /* the harness serves many tests */
#include "../proto/h2_testutil.h"
#include "tls_peers.h"

static struct lab lab;

static void setup(void)
{
	lab_init(&lab);
}

static void teardown(void)
{
	lab_free(&lab);
}

TestSuite(engine_h2, .init = setup, .fini = teardown);

struct run {
	struct engine *e;
	struct sm_flow *f;
	struct peer_tls c, o; /* TLS: the browser's, the origin's */
	struct peer b, u;     /* nghttp2: browser, origin (u: NULL session for HTTP/1.1) */
	size_t step;
};

static void start(struct run *t, const char *origin_alpn, size_t step)
{
	memset(t, 0, sizeof(*t));
	t->step = step;
	t->e = calloc(1, sizeof(*t->e));
	cr_assert(t->e);
	eng_init(t->e, NULL, &lab.ca, (const uint8_t *)lab.pem, lab.pem_len);
	t->f = eng_accept(t->e);
	static const char req[] = "CONNECT 127.0.0.1:443 HTTP/1.1\r\n\r\n";
	eng_recv(t->e, t->f->fd[SM_SIDE_CLIENT], req, sizeof(req) - 1);
	eng_complete(t->e, eng_need(t->e, EK_CONNECT, -1), 0, 0);
	eng_cancels(t->e);
	char buf[64];
	eng_take(t->e, t->f->fd[SM_SIDE_CLIENT], buf, sizeof(buf));
	tls_client(&t->c, &lab, "origin.test", "h2");
	tls_origin(&t->o, &lab, "origin.test", origin_alpn);
	t->c.fd = t->f->fd[SM_SIDE_CLIENT];
	t->o.fd = t->f->fd[SM_SIDE_UPSTREAM];
	tls_peers_run(t->e, &t->c, &t->o, step);
	cr_assert_eq(t->c.hs, SM_OK);
	cr_assert_eq(t->o.hs, SM_OK);
	peer_init(&t->b, 0, 65535);
	if (!strcmp(origin_alpn, "h2"))
		peer_init(&t->u, 1, 65535);
}

static void end(struct run *t)
{
	peer_free(&t->b);
	if (t->u.s)
		peer_free(&t->u);
	tls_peer_free(&t->c);
	tls_peer_free(&t->o);
	eng_free(t->e);
	free(t->e);
}

/* nghttp2 output into TLS, TLS plaintext into nghttp2, until quiet. An
 * HTTP/1.1 origin answers each complete request with http1_answer. */
static void run(struct run *t, const char *http1_answer)
{
	for (int round = 0; round < 100000; round++) {
		bool moved = false;
		const uint8_t *d;
		ssize_t n;
		while ((n = nghttp2_session_mem_send(t->b.s, &d)) > 0) {
			tls_peer_send(&t->c, d, (size_t)n);
			moved = true;
		}
		while (t->u.s && (n = nghttp2_session_mem_send(t->u.s, &d)) > 0) {
			tls_peer_send(&t->o, d, (size_t)n);
			moved = true;
		}
		moved |= tls_peer_step(t->e, &t->c, t->step);
		moved |= tls_peer_step(t->e, &t->o, t->step);
		if (t->c.plain_len) {
			cr_assert_eq(nghttp2_session_mem_recv(t->b.s, t->c.plain, t->c.plain_len),
			             (ssize_t)t->c.plain_len);
			t->c.plain_len = 0;
			moved = true;
		}
		if (t->u.s && t->o.plain_len) {
			cr_assert_eq(nghttp2_session_mem_recv(t->u.s, t->o.plain, t->o.plain_len),
			             (ssize_t)t->o.plain_len);
			t->o.plain_len = 0;
			moved = true;
		}
		if (!t->u.s && http1_answer && t->o.plain_len &&
		    memmem(t->o.plain, t->o.plain_len, "\r\n\r\n", 4)) {
			t->o.plain_len = 0;
			tls_peer_send(&t->o, http1_answer, strlen(http1_answer));
			moved = true;
		}
		if (!moved)
			return;
	}
	cr_assert_fail("never settled");
}

static int32_t request(struct run *t, const char *path, const uint8_t *body, size_t blen)
{
	nghttp2_nv nv[4] = {
	        {(uint8_t *)":method", (uint8_t *)(body ? "POST" : "GET"), 7, body ? 4 : 3, 0},
	        {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0},
	        {(uint8_t *)":authority", (uint8_t *)"origin.test", 10, 11, 0},
	        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
	};
	nghttp2_data_provider prd = {.source = {.ptr = NULL}, .read_callback = peer_read};
	int32_t id = nghttp2_submit_request(t->b.s, NULL, nv, 4, body ? &prd : NULL, NULL);
	cr_assert(id > 0);
	struct pstream *ps = pst(&t->b, id, 1);
	ps->src = body;
	ps->srclen = blen;
	return id;
}

static void h2_both_sides(size_t step)
{
	struct run t;
	start(&t, "h2", step);
	cr_assert_str_eq(t.f->st->top.ops->name, "h2");
	static uint8_t body[20000];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7);
	int32_t a = request(&t, "/one", NULL, 0);
	int32_t b = request(&t, "/two", body, sizeof(body)); /* echoed by the origin */
	run(&t, NULL);
	struct pstream *pa = pst(&t.b, a, 0), *pb = pst(&t.b, b, 0);
	cr_assert(pa && pa->ended && pb && pb->ended, "step %zu: both streams answered", step);
	cr_assert_eq(pb->body.len, sizeof(body), "step %zu", step);
	cr_assert(!memcmp(pb->body.p, body, sizeof(body)));
	cr_assert_not_null(memmem(pa->hdr.p, pa->hdr.len, ":status: 200", 12));
	struct engine *e = t.e;
	const struct sm_event *rq[3], *rs[3];
	cr_assert_eq(eng_events(e, SM_EV_PROXY_REQUEST, rq, 3), 3, "the CONNECT and two streams");
	cr_assert(eng_str_is(rq[1], 1, "/one"));
	cr_assert_eq(rq[1]->i[0], 0, "http_minor 0: HTTP/2");
	cr_assert_eq(rq[2]->i[1], b, "the stream id");
	cr_assert_eq(eng_events(e, SM_EV_HTTP_RESPONSE, rs, 3), 2);
	cr_assert_eq(rs[0]->i[0], 200);
	cr_assert_eq(sm_metrics_get(&e->m->h2_streams_open), 0, "every stream ended");
	cr_assert_eq(sm_metrics_get(&e->m->h2_conns_open), 1);
	eng_check_seq(e, t.f->id);
	end(&t);
}

Test(engine_h2, two_streams_through_the_h2_layer_at_many_splits)
{
	static const size_t steps[] = {1, 5, 113, 1400, 16384};
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
		h2_both_sides(steps[k]);
}

/* The origin speaks HTTP/1.1 only: the client's h2 is translated. */
Test(engine_h2, h2_client_to_http11_origin_is_translated)
{
	struct run t;
	start(&t, "http/1.1", 700);
	cr_assert_str_eq(t.f->st->top.ops->name, "h2h1");
	int32_t a = request(&t, "/x", NULL, 0);
	run(&t, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello");
	struct pstream *pa = pst(&t.b, a, 0);
	cr_assert(pa && pa->ended);
	cr_assert_eq(pa->body.len, 5);
	cr_assert(!memcmp(pa->body.p, "hello", 5));
	cr_assert_eq(sm_metrics_get(&t.e->m->h2_xlate_h2h1), 1);
	end(&t);
}

/* The client ends: GOAWAY to both, the flow closes done once every
 * stream is over, and the gauges give back what it counted. */
Test(engine_h2, client_eof_ends_the_flow)
{
	struct run t;
	start(&t, "h2", 16384);
	int32_t a = request(&t, "/one", NULL, 0);
	run(&t, NULL);
	cr_assert(pst(&t.b, a, 0)->ended);
	eng_recv(t.e, t.c.fd, "", 0);
	run(&t, NULL);
	cr_assert_eq(eng_event(t.e, SM_EV_FLOW_CLOSED)->i[0], SM_CLOSE_DONE);
	cr_assert_eq(sm_metrics_get(&t.e->m->h2_conns_open), 0);
	end(&t);
}
