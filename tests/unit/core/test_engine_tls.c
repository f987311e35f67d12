/* The flow engine on a fake ring with TLS interception: the handshake
 * layer, the TLS transport of each side and the HTTP/1.1 layer in origin
 * mode between a real TLS client and a real TLS origin (in memory), every
 * ciphertext cut into pieces of many sizes. */
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

TestSuite(engine_tls, .init = setup, .fini = teardown);

struct run {
	struct engine *e;
	struct sm_flow *f;
	struct peer_tls c, o;
};

/* A CONNECT through an intercepting engine, answered and connected; the
 * peers are ready to handshake. */
static void run_start(struct run *t, const char *const *sets, const char *sni,
                      const char *client_alpn, const char *origin_name, const char *origin_alpn)
{
	t->e = calloc(1, sizeof(*t->e));
	cr_assert(t->e);
	eng_init(t->e, sets, &lab.ca, (const uint8_t *)lab.pem, lab.pem_len);
	t->f = eng_accept(t->e);
	static const char req[] = "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n";
	eng_recv(t->e, t->f->fd[SM_SIDE_CLIENT], req, sizeof(req) - 1);
	eng_complete(t->e, eng_need(t->e, EK_CONNECT, -1), 0, 0);
	eng_cancels(t->e);
	char buf[256];
	size_t n = eng_take(t->e, t->f->fd[SM_SIDE_CLIENT], buf, sizeof(buf));
	cr_assert_eq(n, 39, "200 Connection established");
	tls_client(&t->c, &lab, sni, client_alpn);
	tls_origin(&t->o, &lab, origin_name, origin_alpn);
	t->c.fd = t->f->fd[SM_SIDE_CLIENT];
	t->o.fd = t->f->fd[SM_SIDE_UPSTREAM];
}

static void run_end(struct run *t)
{
	tls_peer_free(&t->c);
	tls_peer_free(&t->o);
	eng_free(t->e);
	free(t->e);
}

static const char REQ[] = "GET /path HTTP/1.1\r\nHost: origin.test\r\nAccept: */*\r\n\r\n";
static const char RESP[] = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello, tls!\n";

static void exchange(size_t step)
{
	const char *sets[] = {"http2=false", NULL};
	struct run t;
	run_start(&t, sets, "origin.test", "http/1.1", "origin.test", "http/1.1");
	tls_peers_run(t.e, &t.c, &t.o, step);
	cr_assert_eq(t.c.hs, SM_OK, "step %zu: client handshake", step);
	cr_assert_eq(t.o.hs, SM_OK, "step %zu: origin handshake", step);
	cr_assert_str_eq(t.f->st->top.ops->name, "http1");
	cr_assert_str_eq(t.f->st->conn[SM_SIDE_CLIENT].xprt->name, "tls");
	cr_assert_str_eq(t.f->st->conn[SM_SIDE_UPSTREAM].xprt->name, "tls");
	tls_peer_send(&t.c, REQ, sizeof(REQ) - 1);
	tls_peers_run(t.e, &t.c, &t.o, step);
	cr_assert_eq(t.o.plain_len, sizeof(REQ) - 1, "step %zu: %.*s", step, (int)t.o.plain_len,
	             t.o.plain);
	cr_assert(!memcmp(t.o.plain, REQ, t.o.plain_len));
	tls_peer_send(&t.o, RESP, sizeof(RESP) - 1);
	tls_peers_run(t.e, &t.c, &t.o, step);
	cr_assert_eq(t.c.plain_len, sizeof(RESP) - 1, "step %zu", step);
	cr_assert(!memcmp(t.c.plain, RESP, t.c.plain_len));
	struct engine *e = t.e;
	const struct sm_event *evs[4];
	cr_assert_eq(eng_events(e, SM_EV_TLS_HANDSHAKE_OK, evs, 4), 2);
	cr_assert_eq(evs[0]->i[0], SM_TLS_SIDE_SERVER, "the upstream's handshake comes first");
	cr_assert_eq(evs[1]->i[0], SM_TLS_SIDE_CLIENT);
	cr_assert(eng_str_is(evs[1], 1, "http/1.1"));
	const struct sm_event *ch = eng_event(e, SM_EV_TLS_CLIENT_HELLO);
	cr_assert(eng_str_is(ch, 0, "origin.test"));
	cr_assert(eng_str_is(eng_event(e, SM_EV_CERT_FORGED), 0, "origin.test"));
	const struct sm_event *rq[2];
	cr_assert_eq(eng_events(e, SM_EV_PROXY_REQUEST, rq, 2), 2, "the CONNECT, then the request");
	cr_assert(eng_str_is(rq[0], 0, "CONNECT"));
	cr_assert(eng_str_is(rq[1], 1, "/path"));
	const struct sm_event *rs = eng_event(e, SM_EV_HTTP_RESPONSE);
	cr_assert_eq(rs->i[0], 200);
	cr_assert(eng_str_is(rs, 1, "origin.test"), "the host is the SNI");
	eng_check_seq(e, t.f->id);
	run_end(&t);
}

Test(engine_tls, http1_through_both_tls_transports_at_many_splits)
{
	static const size_t steps[] = {1, 2, 3, 7, 64, 100, 517, 1400, 4096, 16384};
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
		exchange(steps[k]);
}

/* The upstream's certificate names another host: the client still
 * completes its handshake and gets a 502 over TLS naming the reason. */
Test(engine_tls, upstream_failure_is_a_502_over_tls)
{
	struct run t;
	run_start(&t, NULL, "origin.test", "http/1.1", "other.test", "http/1.1");
	tls_peers_run(t.e, &t.c, &t.o, 1000);
	cr_assert_eq(t.c.hs, SM_OK, "the client's handshake completes");
	cr_assert_eq(t.o.hs, SM_ERR_PROTOCOL, "the proxy refused the origin");
	cr_assert(t.c.plain_len > 13 && !memcmp(t.c.plain, "HTTP/1.1 502 ", 13), "%.*s",
	          (int)t.c.plain_len, t.c.plain);
	cr_assert(memmem(t.c.plain, t.c.plain_len, "hostname_mismatch", 17));
	cr_assert(t.c.eof, "close_notify after the answer");
	const struct sm_event *ev = eng_event(t.e, SM_EV_TLS_HANDSHAKE_FAILED);
	cr_assert_eq(ev->i[0], SM_TLS_SIDE_SERVER);
	cr_assert_eq(ev->i[1], SM_TLS_HOSTNAME_MISMATCH);
	cr_assert_eq(eng_event(t.e, SM_EV_FLOW_CLOSED)->i[0], SM_CLOSE_TLS_SERVER_FAILED,
	             "closed once the answer and close_notify went out");
	run_end(&t);
}

/* Bytes that are not TLS after the CONNECT: tunnelled untouched (the
 * default tls.non_tls), the client side back to the plain transport. */
Test(engine_tls, not_tls_is_tunnelled)
{
	struct run t;
	run_start(&t, NULL, "origin.test", "", "origin.test", "");
	static const char plain[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	eng_recv(t.e, t.c.fd, plain, sizeof(plain) - 1);
	char buf[256];
	size_t n = eng_take(t.e, t.o.fd, buf, sizeof(buf));
	cr_assert_eq(n, sizeof(plain) - 1);
	cr_assert(!memcmp(buf, plain, n));
	cr_assert_eq(t.f->state, SM_FLOW_TUNNEL);
	cr_assert_eq(eng_event(t.e, SM_EV_TLS_NOT_TLS)->i[0], SM_ACTION_TUNNEL);
	run_end(&t);
}

/* A client that closes in the middle of its ClientHello fails the
 * handshake with eof, at once. */
Test(engine_tls, client_eof_during_the_hello_is_an_eof_failure)
{
	struct run t;
	run_start(&t, NULL, "origin.test", "", "origin.test", "");
	sm_tls_handshake(&t.c.t);
	const uint8_t *q;
	size_t k = sm_tls_out(&t.c.t, &q);
	cr_assert(k > 10);
	eng_recv(t.e, t.c.fd, q, 10);
	eng_recv(t.e, t.c.fd, "", 0);
	const struct sm_event *ev = eng_event(t.e, SM_EV_TLS_HANDSHAKE_FAILED);
	cr_assert_eq(ev->i[0], SM_TLS_SIDE_CLIENT);
	cr_assert_eq(ev->i[1], SM_TLS_EOF);
	cr_assert_eq(eng_event(t.e, SM_EV_FLOW_CLOSED)->i[0], SM_CLOSE_TLS_CLIENT_FAILED);
	run_end(&t);
}

/* A write of ciphertext that goes out in pieces is resumed from where it
 * stopped; the client reads the response whole. */
Test(engine_tls, short_writes_of_records_are_resumed)
{
	const char *sets[] = {"http2=false", NULL};
	struct run t;
	run_start(&t, sets, "origin.test", "http/1.1", "origin.test", "http/1.1");
	tls_peers_run(t.e, &t.c, &t.o, 16384);
	tls_peer_send(&t.c, REQ, sizeof(REQ) - 1);
	tls_peers_run(t.e, &t.c, &t.o, 16384);
	static char big[40000];
	int hl = snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 30000);
	for (int i = 0; i < 30000; i++)
		big[hl + i] = (char)('a' + i % 26);
	size_t blen = (size_t)hl + 30000;
	tls_peer_send(&t.o, big, blen);
	for (int round = 0; round < 100000; round++) {
		bool moved = tls_peer_step(t.e, &t.o, 16384);
		struct eng_op *w = eng_find(t.e, EK_WRITE, t.c.fd);
		if (w) { /* at most 1000 bytes of each write go out */
			unsigned n = w->n < 1000 ? w->n : 1000;
			tls_buf_add(&t.c.from_proxy, &t.c.from_len, w->p, n);
			eng_complete(t.e, w, (int)n, 0);
			moved = true;
		}
		moved |= tls_peer_step(t.e, &t.c, 16384);
		if (!moved)
			break;
	}
	cr_assert_eq(t.c.plain_len, blen);
	cr_assert(!memcmp(t.c.plain, big, blen));
	run_end(&t);
}

/* A client that refuses our certificate answers the proxy's flight with
 * an alert before the proxy's write of that flight completed; the write
 * then fails (the client is gone). One tls_handshake_failed for the client
 * side, its reason from the alert, nothing for the error that follows. */
Test(engine_tls, a_refused_handshake_is_reported_once)
{
	struct run t;
	run_start(&t, NULL, "origin.test", "", "origin.test", "");
	wolfSSL_check_domain_name(t.c.t.ssl, "wrong.test"); /* the client will refuse us */
	struct eng_op *flight = NULL;
	for (int round = 0; round < 1000 && t.c.hs != SM_ERR_PROTOCOL; round++) {
		bool moved = tls_peer_step(t.e, &t.o, 16384);
		struct eng_op *w = eng_find(t.e, EK_WRITE, t.c.fd);
		if (w && t.o.hs == SM_OK && w != flight) {
			/* the flight reaches the client; its write stays in flight */
			flight = w;
			cr_assert_eq(sm_tls_feed(&t.c.t, w->p, w->n), w->n);
			t.c.hs = sm_tls_handshake(&t.c.t);
			moved = true;
			continue;
		}
		if (!flight)
			moved |= tls_peer_step(t.e, &t.c, 16384);
		cr_assert(moved, "stuck before the client's verdict");
	}
	cr_assert_eq(t.c.hs, SM_ERR_PROTOCOL, "the client refused the forged leaf");
	cr_assert_not_null(flight);
	const uint8_t *q;
	size_t k = sm_tls_out(&t.c.t, &q); /* its alert */
	cr_assert(k > 0);
	eng_recv(t.e, t.c.fd, q, k);
	cr_assert(flight->live);
	eng_complete(t.e, flight, -EPIPE, 0);
	const struct sm_event *evs[4];
	cr_assert_eq(eng_events(t.e, SM_EV_TLS_HANDSHAKE_FAILED, evs, 4), 1);
	cr_assert_eq(evs[0]->i[0], SM_TLS_SIDE_CLIENT);
	cr_assert_neq(evs[0]->i[1], SM_TLS_RESET);
	cr_assert_eq(evs[0]->i[4], SM_TLS_SRC_NATIVE_AUTHORITATIVE, "an alert says it");
	cr_assert_eq(evs[0]->i[5], SM_TLS_INF_NONE);
	cr_assert_eq(eng_event(t.e, SM_EV_FLOW_CLOSED)->i[0], SM_CLOSE_TLS_CLIENT_FAILED);
	run_end(&t);
}

/* Drives the peers until the proxy's flight to the client (its
 * certificate) is a pending write; returns it, not completed. */
static struct eng_op *client_flight(struct run *t)
{
	for (int round = 0; round < 1000; round++) {
		struct eng_op *w = eng_find(t->e, EK_WRITE, t->c.fd);
		if (w && t->o.hs == SM_OK)
			return w;
		bool moved = tls_peer_step(t->e, &t->o, 16384);
		if (!eng_find(t->e, EK_WRITE, t->c.fd) || t->o.hs != SM_OK)
			moved |= tls_peer_step(t->e, &t->c, 16384);
		cr_assert(moved, "stuck before the proxy's flight to the client");
	}
	cr_assert_fail("no flight");
	return NULL;
}

/* A client that closes without an alert: what was seen (eof, reset) is the
 * reason. After our certificate reached its socket, the event adds the
 * guess closed_after_certificate and says the source is inferred; before
 * (the flight's write still in flight), there is no guess. */
Test(engine_tls, a_client_closing_without_an_alert_is_an_eof_and_the_guess_is_named)
{
	static const struct {
		bool delivered; /* the flight's write completed first */
		bool reset;     /* the client resets instead of closing */
		int reason, source, inference;
	} cases[] = {
	        {true, false, SM_TLS_EOF, SM_TLS_SRC_NATIVE_INFERRED,
	         SM_TLS_INF_CLOSED_AFTER_CERTIFICATE},
	        {true, true, SM_TLS_RESET, SM_TLS_SRC_NATIVE_INFERRED,
	         SM_TLS_INF_CLOSED_AFTER_CERTIFICATE},
	        {false, false, SM_TLS_EOF, SM_TLS_SRC_NATIVE_AUTHORITATIVE, SM_TLS_INF_NONE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run t;
		run_start(&t, NULL, "origin.test", "", "origin.test", "");
		struct eng_op *w = client_flight(&t);
		if (cases[i].delivered)
			eng_complete(t.e, w, (int)w->n, 0);
		if (cases[i].reset)
			eng_complete(t.e, eng_need(t.e, EK_RECV, t.c.fd), -ECONNRESET, 0);
		else
			eng_recv(t.e, t.c.fd, "", 0);
		if (!cases[i].delivered && w->live)
			eng_complete(t.e, w, -EPIPE, 0);
		const struct sm_event *evs[4];
		cr_assert_eq(eng_events(t.e, SM_EV_TLS_HANDSHAKE_FAILED, evs, 4), 1, "case %zu", i);
		cr_expect_eq(evs[0]->i[0], SM_TLS_SIDE_CLIENT);
		cr_expect_eq(evs[0]->i[1], cases[i].reason, "case %zu: %s", i,
		             sm_tls_reason_name((int)evs[0]->i[1]));
		cr_expect_eq(evs[0]->i[2], -1, "case %zu: no alert", i);
		cr_expect_eq(evs[0]->i[4], cases[i].source, "case %zu: %s", i,
		             sm_tls_source_name((int)evs[0]->i[4]));
		cr_expect_eq(evs[0]->i[5], cases[i].inference, "case %zu", i);
		cr_expect_eq(eng_event(t.e, SM_EV_FLOW_CLOSED)->i[0], SM_CLOSE_TLS_CLIENT_FAILED);
		run_end(&t);
	}
}

/* A close-delimited response (no Content-Length, no chunking) whose origin
 * ends TCP without close_notify: the client gets every byte, then our own
 * close_notify, and the flow says the upstream ended without one. */
Test(engine_tls, close_delimited_response_ends_with_our_close_notify)
{
	const char *sets[] = {"http2=false", NULL};
	struct run t;
	run_start(&t, sets, "origin.test", "http/1.1", "origin.test", "http/1.1");
	tls_peers_run(t.e, &t.c, &t.o, 4096);
	tls_peer_send(&t.c, REQ, sizeof(REQ) - 1);
	tls_peers_run(t.e, &t.c, &t.o, 4096);
	static const char resp[] =
	        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
	tls_peer_send(&t.o, resp, sizeof(resp) - 1);
	tls_peers_run(t.e, &t.c, &t.o, 4096);
	cr_assert_eq(t.c.plain_len, sizeof(resp) - 1 + 19, "with Connection: close: %.*s",
	             (int)t.c.plain_len, t.c.plain);
	cr_assert(!t.c.eof, "the response is not over yet");
	eng_recv(t.e, t.o.fd, "", 0); /* TCP EOF, no close_notify */
	tls_peers_run(t.e, &t.c, &t.o, 4096);
	cr_assert(t.c.eof && t.c.t.close_notify, "the client got our close_notify");
	cr_assert(memmem(t.c.plain, t.c.plain_len, "until the end", 13));
	cr_assert_eq(eng_event(t.e, SM_EV_FLOW_CLOSED)->i[0], SM_CLOSE_UPSTREAM_NO_CLOSE_NOTIFY);
	run_end(&t);
}

/* Slowloris on the handshake: a ClientHello that comes a byte at a time is
 * still bounded by tls.handshake_timeout_ms from its start; the bytes keep
 * the flow's idle timer alive, not the handshake's deadline. */
Test(engine_tls, a_hello_trickling_in_is_cut_at_the_handshake_deadline)
{
	const char *sets[] = {"tls.handshake_timeout_ms=1000", NULL};
	struct run t;
	uint64_t t0 = sm_now_ns();
	run_start(&t, sets, "origin.test", "", "origin.test", "");
	sm_tls_handshake(&t.c.t);
	const uint8_t *q;
	size_t k = sm_tls_out(&t.c.t, &q);
	cr_assert(k > 40);
	for (size_t i = 0; i < 20; i++) { /* one byte every 100 ms of fake time */
		eng_recv(t.e, t.c.fd, q + i, 1);
		sm_loop_tick(&t.e->r, t0 + (i + 1) * 100000000ull);
		eng_settle(t.e);
		if (i < 8)
			cr_assert_eq(eng_events(t.e, SM_EV_FLOW_CLOSED, NULL, 0), 0, "byte %zu", i);
		if (eng_events(t.e, SM_EV_FLOW_CLOSED, NULL, 0))
			break;
		cr_assert(i < 11, "still open 1.1 s after the hello began");
	}
	const struct sm_event *ev = eng_event(t.e, SM_EV_TLS_HANDSHAKE_FAILED);
	cr_assert_eq(ev->i[1], SM_TLS_TIMEOUT);
	cr_assert_eq(eng_event(t.e, SM_EV_FLOW_CLOSED)->i[0], SM_CLOSE_TLS_CLIENT_FAILED);
	run_end(&t);
}
