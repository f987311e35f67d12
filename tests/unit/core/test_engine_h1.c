/* The flow engine on a fake ring (tests/unit/core/engine.h), HTTP/1.1 and
 * the explicit proxy: requests and responses byte for byte at every split,
 * CONNECT to the splice tunnel, error replies and their graceful close,
 * switches between upstreams, and the close rule. */
#include "engine.h"

#include "core/front.h"
#include "core/loop.h"

static struct engine *eng_new(const char *const *sets)
{
	struct engine *e = calloc(1, sizeof(*e));
	cr_assert_not_null(e);
	eng_init(e, sets, NULL, NULL, 0);
	return e;
}

static void eng_delete(struct engine *e)
{
	eng_free(e);
	free(e);
}

static int up_fd(const struct sm_flow *f)
{
	return f->fd[SM_SIDE_UPSTREAM];
}

static int cl_fd(const struct sm_flow *f)
{
	return f->fd[SM_SIDE_CLIENT];
}

/* Feeds p[0..n) to the pending recv on fd in pieces of `step` bytes. */
static void feed(struct engine *e, int fd, const char *p, size_t n, size_t step)
{
	for (size_t off = 0; off < n; off += step)
		eng_recv(e, fd, p + off, off + step <= n ? step : n - off);
}

/* The same, with what the proxy writes on out_fd taken after each piece
 * (one write in flight per direction: the next recv waits for it); the
 * count of bytes taken into out. */
static size_t relay(struct engine *e, int fd, const char *p, size_t n, size_t step, int out_fd,
                    char *out, size_t cap)
{
	size_t got = 0;
	for (size_t off = 0; off < n; off += step) {
		eng_recv(e, fd, p + off, off + step <= n ? step : n - off);
		got += eng_take(e, out_fd, out + got, cap - got);
	}
	return got;
}

static const char REQ[] = "GET http://127.0.0.1:8080/a/b?c=d HTTP/1.1\r\n"
                          "Host: 127.0.0.1:8080\r\n"
                          "User-Agent: engine-test\r\n"
                          "Proxy-Connection: keep-alive\r\n"
                          "\r\n";
static const char FWD[] = "GET /a/b?c=d HTTP/1.1\r\n"
                          "Host: 127.0.0.1:8080\r\n"
                          "User-Agent: engine-test\r\n"
                          "\r\n";
static const char RESP[] = "HTTP/1.1 200 OK\r\n"
                           "Content-Length: 11\r\n"
                           "Content-Type: text/plain\r\n"
                           "\r\n"
                           "hello world";

/* One request relayed through a fresh flow with both directions fed in
 * pieces of `step` bytes; checks what each side received. */
static void one_request(size_t step)
{
	struct engine *e = eng_new(NULL);
	struct sm_flow *f = eng_accept(e);
	uint64_t id = f->id;
	int cfd = cl_fd(f);
	feed(e, cfd, REQ, sizeof(REQ) - 1, step);
	struct eng_op *c = eng_need(e, EK_CONNECT, -1);
	cr_assert_eq(c->fd, up_fd(f));
	eng_complete(e, c, 0, 0);
	eng_cancels(e); /* the connect's linked timeout */
	char buf[4096];
	size_t n = eng_take(e, up_fd(f), buf, sizeof(buf));
	cr_assert_eq(n, sizeof(FWD) - 1, "step %zu: %.*s", step, (int)n, buf);
	cr_assert(!memcmp(buf, FWD, n), "step %zu", step);
	n = relay(e, up_fd(f), RESP, sizeof(RESP) - 1, step, cfd, buf, sizeof(buf));
	cr_assert_eq(n, sizeof(RESP) - 1, "step %zu: %zu bytes", step, n);
	cr_assert(!memcmp(buf, RESP, n), "step %zu", step);
	/* the client ends: the flow closes when nothing is outstanding */
	eng_recv(e, cfd, "", 0);
	cr_assert_eq(f->state, SM_FLOW_CLOSING);
	eng_cancel_all(e, up_fd(f));
	cr_assert_eq(e->r.n_open, 0, "the slot is free once its operations completed");
	const struct sm_event *ev = eng_event(e, SM_EV_PROXY_REQUEST);
	cr_assert(eng_str_is(ev, 0, "GET"));
	cr_assert(eng_str_is(ev, 1, "http://127.0.0.1:8080/a/b?c=d"));
	ev = eng_event(e, SM_EV_HTTP_RESPONSE);
	cr_assert_eq(ev->i[0], 200);
	cr_assert(eng_str_is(ev, 1, "127.0.0.1"));
	ev = eng_event(e, SM_EV_FLOW_CLOSED);
	cr_assert_eq(ev->i[0], SM_CLOSE_DONE);
	cr_assert_eq(ev->i[1], (int64_t)sizeof(REQ) - 1, "bytes up");
	cr_assert_eq(ev->i[2], (int64_t)sizeof(RESP) - 1, "bytes down");
	eng_check_seq(e, id);
	cr_assert_eq(e->ev[e->nev - 1].type, SM_EV_FLOW_CLOSED, "flow_closed comes last");
	eng_delete(e);
}

Test(engine_h1, request_and_response_at_every_split)
{
	for (size_t step = 1; step <= sizeof(RESP); step++)
		one_request(step);
}

/* A short write is resumed from where it stopped. */
Test(engine_h1, short_writes_are_resumed)
{
	struct engine *e = eng_new(NULL);
	struct sm_flow *f = eng_accept(e);
	feed(e, cl_fd(f), REQ, sizeof(REQ) - 1, sizeof(REQ));
	eng_complete(e, eng_need(e, EK_CONNECT, -1), 0, 0);
	char got[256];
	size_t n = 0;
	struct eng_op *w;
	while ((w = eng_find(e, EK_WRITE, up_fd(f)))) { /* 5 bytes at a time */
		unsigned k = w->n < 5 ? w->n : 5;
		memcpy(got + n, w->p, k);
		n += k;
		eng_complete(e, w, (int)k, 0);
	}
	cr_assert_eq(n, sizeof(FWD) - 1);
	cr_assert(!memcmp(got, FWD, n));
	eng_delete(e);
}

/* CONNECT: decided, connected, answered, then the splice tunnel takes the
 * sockets and the layer stack goes back to its pool. */
Test(engine_h1, connect_becomes_a_tunnel)
{
	const char *sets[] = {"default_action=tunnel", NULL};
	struct engine *e = eng_new(sets);
	struct sm_flow *f = eng_accept(e);
	static const char req[] = "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n";
	feed(e, cl_fd(f), req, sizeof(req) - 1, 7);
	eng_complete(e, eng_need(e, EK_CONNECT, -1), 0, 0);
	char buf[256];
	size_t n = eng_take(e, cl_fd(f), buf, sizeof(buf));
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	cr_assert_eq(n, sizeof(ok) - 1);
	cr_assert(!memcmp(buf, ok, n));
	cr_assert_eq(f->state, SM_FLOW_TUNNEL);
	cr_assert_null(f->st, "a tunnel holds no layer stack");
	cr_assert_eq(e->r.n_stacks, 1, "the stack is back in its pool");
	/* copy mode: what the client sends is sent to the upstream as it is */
	eng_recv(e, cl_fd(f), "ping", 4);
	struct eng_op *s = eng_need(e, EK_SEND, up_fd(f));
	cr_assert_eq(s->n, 4);
	cr_assert(!memcmp(s->p, "ping", 4));
	const struct sm_event *ev = eng_event(e, SM_EV_CONNECT_DECISION);
	cr_assert_eq(ev->i[0], SM_ACTION_TUNNEL);
	eng_delete(e);
}

/* Bytes the client sent right behind its CONNECT head go upstream before
 * the tunnel starts. */
Test(engine_h1, early_bytes_after_connect_go_first)
{
	const char *sets[] = {"default_action=tunnel", NULL};
	struct engine *e = eng_new(sets);
	struct sm_flow *f = eng_accept(e);
	static const char req[] = "CONNECT 127.0.0.1:443 HTTP/1.1\r\n\r\nEARLY";
	feed(e, cl_fd(f), req, sizeof(req) - 1, sizeof(req));
	eng_complete(e, eng_need(e, EK_CONNECT, -1), 0, 0);
	char buf[256];
	eng_take(e, cl_fd(f), buf, sizeof(buf));
	size_t n = eng_take(e, up_fd(f), buf, sizeof(buf));
	cr_assert_eq(n, 5);
	cr_assert(!memcmp(buf, "EARLY", 5));
	cr_assert_eq(f->state, SM_FLOW_TUNNEL);
	eng_delete(e);
}

/* A malformed request gets a 400 naming the reason; then the write side is
 * shut and what the client still sends is drained until its EOF. */
Test(engine_h1, bad_request_is_answered_then_closed_gracefully)
{
	struct engine *e = eng_new(NULL);
	struct sm_flow *f = eng_accept(e);
	static const char req[] = "GET http://127.0.0.1/ HTTP/1.1\r\nHost: a\r\n"
	                          "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
	feed(e, cl_fd(f), req, sizeof(req) - 1, 3);
	char buf[2048];
	size_t n = eng_take(e, cl_fd(f), buf, sizeof(buf) - 1);
	buf[n] = 0;
	cr_assert(!strncmp(buf, "HTTP/1.1 400 ", 13), "%s", buf);
	cr_assert_null(eng_find(e, EK_CONNECT, -1), "no upstream for a refused request");
	cr_assert_eq(f->state, SM_FLOW_OPEN, "lingering: the answer must not be lost to a reset");
	eng_recv(e, cl_fd(f), "more", 4); /* dropped */
	eng_recv(e, cl_fd(f), "", 0);
	cr_assert_eq(eng_event(e, SM_EV_FLOW_CLOSED)->i[0], SM_CLOSE_BAD_REQUEST);
	eng_cancels(e);
	cr_assert_eq(e->r.n_open, 0);
	eng_delete(e);
}

/* A client outside allow_clients gets its 403 once its head is read. */
Test(engine_h1, denied_client_gets_403)
{
	const char *sets[] = {"allow_clients=10.0.0.0/8", NULL};
	struct engine *e = eng_new(sets);
	struct sm_flow *f = eng_accept(e);
	feed(e, cl_fd(f), REQ, sizeof(REQ) - 1, 64);
	char buf[2048];
	size_t n = eng_take(e, cl_fd(f), buf, sizeof(buf) - 1);
	buf[n] = 0;
	cr_assert(!strncmp(buf, "HTTP/1.1 403 ", 13), "%s", buf);
	eng_recv(e, cl_fd(f), "", 0);
	cr_assert_eq(eng_event(e, SM_EV_FLOW_CLOSED)->i[0], SM_CLOSE_CLIENT_NOT_ALLOWED);
	eng_delete(e);
}

/* Pipelined requests for two upstreams, the first answered only after the
 * second was read: the first upstream is read until its response is
 * complete, then the switch closes it and connects the second. */
Test(engine_h1, switch_waits_for_the_earlier_response)
{
	struct engine *e = eng_new(NULL);
	struct sm_flow *f = eng_accept(e);
	static const char two[] =
	        "GET http://127.0.0.1:8001/one HTTP/1.1\r\nHost: 127.0.0.1:8001\r\n\r\n"
	        "GET http://127.0.0.1:8002/two HTTP/1.1\r\nHost: 127.0.0.1:8002\r\n\r\n";
	eng_recv(e, cl_fd(f), two, sizeof(two) - 1);
	eng_complete(e, eng_need(e, EK_CONNECT, -1), 0, 0);
	eng_cancels(e);
	int first = up_fd(f);
	char buf[4096];
	size_t n = eng_take(e, first, buf, sizeof(buf) - 1);
	buf[n] = 0;
	cr_assert(strstr(buf, "GET /one "), "%s", buf);
	cr_assert_null(strstr(buf, "/two"), "the second request waits for its upstream");
	/* the first response arrives in two pieces */
	static const char r1[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none";
	eng_recv(e, first, r1, 20);
	eng_recv(e, first, r1 + 20, sizeof(r1) - 1 - 20);
	n = eng_take(e, cl_fd(f), buf, sizeof(buf));
	cr_assert_eq(n, sizeof(r1) - 1, "the whole first response reached the client");
	/* nothing more is asked of the old upstream: it is closed, the new
	 * one connected */
	cr_assert_null(eng_find(e, EK_RECV, first));
	struct eng_op *c = eng_need(e, EK_CONNECT, -1);
	eng_complete(e, c, 0, 0);
	eng_cancels(e);
	n = eng_take(e, up_fd(f), buf, sizeof(buf) - 1);
	buf[n] = 0;
	cr_assert(strstr(buf, "GET /two "), "%s", buf);
	static const char r2[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo";
	eng_recv(e, up_fd(f), r2, sizeof(r2) - 1);
	n = eng_take(e, cl_fd(f), buf, sizeof(buf));
	cr_assert_eq(n, sizeof(r2) - 1);
	const struct sm_event *evs[4];
	cr_assert_eq(eng_events(e, SM_EV_HTTP_RESPONSE, evs, 4), 2);
	cr_assert(eng_str_is(evs[0], 1, "127.0.0.1"));
	cr_assert_eq(eng_events(e, SM_EV_UPSTREAM_CONNECTED, evs, 4), 2);
	eng_check_seq(e, f->id);
	eng_delete(e);
}

/* THE CLOSE RULE: completions that arrive in the same batch after the one
 * that closed the flow find it closing, with everything it holds intact,
 * and only settle; the teardown runs once, at the end of the batch. */
Test(engine_h1, completions_after_a_close_in_one_batch)
{
	struct engine *e = eng_new(NULL);
	struct sm_flow *f = eng_accept(e);
	feed(e, cl_fd(f), REQ, sizeof(REQ) - 1, sizeof(REQ));
	eng_complete(e, eng_need(e, EK_CONNECT, -1), 0, 0);
	eng_cancels(e);
	char buf[4096];
	eng_take(e, up_fd(f), buf, sizeof(buf));
	/* one batch: the upstream resets mid-response, and the write of the
	 * part already forwarded completes after it */
	eng_recv(e, up_fd(f), RESP, 70); /* the head and 5 body bytes */
	struct eng_op *w = eng_need(e, EK_WRITE, cl_fd(f));
	struct eng_op *rv = eng_need(e, EK_RECV, up_fd(f));
	rv->live = false;
	sm_loop_cqe(&e->r, rv->ud, -ECONNRESET, 0);
	cr_assert_eq(f->state, SM_FLOW_CLOSING);
	cr_assert_not_null(f->st, "nothing is freed before the end of the batch");
	w->live = false;
	sm_loop_cqe(&e->r, w->ud, (int)w->n, 0);
	eng_settle(e);
	cr_assert_eq(eng_event(e, SM_EV_FLOW_CLOSED)->i[0], SM_CLOSE_UPSTREAM_RESET);
	cr_assert(f->reset, "a reset is passed on");
	eng_cancel_all(e, cl_fd(f));
	cr_assert_eq(e->r.n_open, 0);
	cr_assert_eq(f->state, SM_FLOW_FREE);
	eng_delete(e);
}

/* A connect refused: the next address would be tried; with none left the
 * client gets a 502 naming the address. */
Test(engine_h1, refused_connect_is_a_502)
{
	struct engine *e = eng_new(NULL);
	struct sm_flow *f = eng_accept(e);
	feed(e, cl_fd(f), REQ, sizeof(REQ) - 1, 9);
	eng_complete(e, eng_need(e, EK_CONNECT, -1), -ECONNREFUSED, 0);
	eng_cancels(e);
	char buf[2048];
	size_t n = eng_take(e, cl_fd(f), buf, sizeof(buf) - 1);
	buf[n] = 0;
	cr_assert(!strncmp(buf, "HTTP/1.1 502 ", 13), "%s", buf);
	cr_assert(strstr(buf, "127.0.0.1:8080"), "%s", buf);
	const struct sm_event *ev = eng_event(e, SM_EV_UPSTREAM_FAILED);
	cr_assert_eq(ev->i[0], SM_UPF_REFUSED);
	eng_delete(e);
}

/* Names the fake ring cannot resolve (it has no DNS) are a 502 naming the
 * host, not a hang. */
Test(engine_h1, unresolvable_name_is_a_502)
{
	struct engine *e = eng_new(NULL);
	struct sm_flow *f = eng_accept(e);
	static const char req[] = "GET http://nowhere.test/ HTTP/1.1\r\nHost: nowhere.test\r\n\r\n";
	feed(e, cl_fd(f), req, sizeof(req) - 1, 11);
	char buf[2048];
	size_t n = eng_take(e, cl_fd(f), buf, sizeof(buf) - 1);
	buf[n] = 0;
	cr_assert(!strncmp(buf, "HTTP/1.1 502 ", 13), "%s", buf);
	cr_assert(strstr(buf, "nowhere.test"), "%s", buf);
	eng_delete(e);
}

/* The layer on top names what the flow does. */
Test(engine_h1, layers_are_installed_once_per_phase)
{
	const char *sets[] = {"default_action=tunnel", NULL};
	struct engine *e = eng_new(sets);
	struct sm_flow *f = eng_accept(e);
	cr_assert_str_eq(f->st->top.ops->name, "http1");
	cr_assert_str_eq(f->st->conn[SM_SIDE_CLIENT].xprt->name, "plain");
	cr_assert_null(f->st->conn[SM_SIDE_UPSTREAM].xprt, "no upstream yet");
	static const char req[] = "CONNECT 127.0.0.1:443 HTTP/1.1\r\n\r\n";
	eng_recv(e, cl_fd(f), req, sizeof(req) - 1);
	eng_complete(e, eng_need(e, EK_CONNECT, -1), 0, 0);
	cr_assert_str_eq(f->st->top.ops->name, "establish");
	cr_assert_str_eq(f->st->conn[SM_SIDE_UPSTREAM].xprt->name, "plain");
	eng_delete(e);
}

/* Sequential requests for two upstreams on one keep-alive connection: the
 * idle first upstream has a recv armed when the second request comes; it
 * is cancelled, and the socket closed only once the cancel landed. */
Test(engine_h1, switch_cancels_the_idle_upstream_recv)
{
	struct engine *e = eng_new(NULL);
	struct sm_flow *f = eng_accept(e);
	static const char q1[] =
	        "GET http://127.0.0.1:8001/one HTTP/1.1\r\nHost: 127.0.0.1:8001\r\n\r\n";
	static const char q2[] =
	        "GET http://127.0.0.1:8002/two HTTP/1.1\r\nHost: 127.0.0.1:8002\r\n\r\n";
	static const char r1[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none";
	char buf[4096];
	eng_recv(e, cl_fd(f), q1, sizeof(q1) - 1);
	eng_complete(e, eng_need(e, EK_CONNECT, -1), 0, 0);
	eng_cancels(e);
	int first = up_fd(f);
	eng_take(e, first, buf, sizeof(buf));
	eng_recv(e, first, r1, sizeof(r1) - 1);
	cr_assert_eq(eng_take(e, cl_fd(f), buf, sizeof(buf)), sizeof(r1) - 1);
	struct eng_op *idle = eng_need(e, EK_RECV, first); /* keep-alive: listening */
	eng_recv(e, cl_fd(f), q2, sizeof(q2) - 1);
	cr_assert_not_null(eng_find(e, EK_CANCEL, -1), "the idle recv is cancelled");
	cr_assert_null(eng_find(e, EK_CONNECT, -1), "not before the cancel landed");
	cr_assert_eq(up_fd(f), first, "the old socket stays open meanwhile");
	eng_cancels(e);
	eng_complete(e, idle, -ECANCELED, 0);
	eng_complete(e, eng_need(e, EK_CONNECT, -1), 0, 0);
	eng_cancels(e);
	size_t n = eng_take(e, up_fd(f), buf, sizeof(buf) - 1);
	buf[n] = 0;
	cr_assert(strstr(buf, "GET /two "), "%s", buf);
	cr_assert_eq(f->state, SM_FLOW_OPEN);
	eng_delete(e);
}

/* A 101 through the plain proxy: with the WebSocket observer on, the raw
 * relay carries the frames (and reports them); with it off and both sides
 * plain, the splice tunnel takes the sockets. */
static void upgrade(bool observed, bool bytes_in_the_cancelled_recv)
{
	const char *on[] = {NULL}, *off[] = {"observe.websocket=false", NULL};
	struct engine *e = eng_new(observed ? on : off);
	struct sm_flow *f = eng_accept(e);
	static const char req[] = "GET http://127.0.0.1:8080/chat HTTP/1.1\r\n"
	                          "Host: 127.0.0.1:8080\r\nUpgrade: websocket\r\n"
	                          "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
	static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                           "Connection: Upgrade\r\n"
	                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
	char buf[4096];
	eng_recv(e, cl_fd(f), req, sizeof(req) - 1);
	eng_complete(e, eng_need(e, EK_CONNECT, -1), 0, 0);
	eng_cancels(e);
	eng_take(e, up_fd(f), buf, sizeof(buf));
	eng_recv(e, up_fd(f), resp, sizeof(resp) - 1);
	cr_assert_eq(eng_take(e, cl_fd(f), buf, sizeof(buf)), sizeof(resp) - 1);
	if (!observed) {
		/* the client's recv armed before the 101 is cancelled and lands
		 * first, so nothing it could bring is lost to the tunnel */
		struct eng_op *rv = eng_need(e, EK_RECV, cl_fd(f));
		cr_assert_not_null(eng_find(e, EK_CANCEL, -1));
		cr_assert_eq(f->state, SM_FLOW_OPEN);
		eng_cancels(e);
		if (bytes_in_the_cancelled_recv) { /* it got bytes before the cancel */
			static const char early[] = "\x81\x80"
			                            "abcd";
			rv->live = false;
			memcpy(sm_br_buf(&e->r, 0), early, sizeof(early) - 1);
			sm_loop_cqe(&e->r, rv->ud, (int)sizeof(early) - 1,
			            IORING_CQE_F_BUFFER | (0u << IORING_CQE_BUFFER_SHIFT));
			eng_settle(e);
			size_t n = eng_take(e, up_fd(f), buf, sizeof(buf));
			cr_assert_eq(n, sizeof(early) - 1, "forwarded before the tunnel");
		} else {
			eng_complete(e, rv, -ECANCELED, 0);
		}
		cr_assert_eq(f->state, SM_FLOW_TUNNEL);
		eng_delete(e);
		return;
	}
	cr_assert_str_eq(f->st->top.ops->name, "raw");
	/* a masked text frame "hi" from the client, forwarded as it is */
	static const uint8_t frame[] = {0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2};
	eng_recv(e, cl_fd(f), frame, sizeof(frame));
	size_t n = eng_take(e, up_fd(f), buf, sizeof(buf));
	cr_assert_eq(n, sizeof(frame));
	cr_assert(!memcmp(buf, frame, n));
	static const uint8_t back[] = {0x81, 0x02, 'y', 'o'};
	eng_recv(e, up_fd(f), back, sizeof(back));
	cr_assert_eq(eng_take(e, cl_fd(f), buf, sizeof(buf)), sizeof(back));
	const struct sm_event *m[2];
	cr_assert_eq(eng_events(e, SM_EV_WS_MESSAGE, m, 2), 2);
	cr_assert(eng_str_is(m[0], 0, "hi") && m[0]->flow == f->id);
	cr_assert(eng_str_is(m[1], 0, "yo"));
	eng_recv(e, cl_fd(f), "", 0);
	cr_assert_eq(eng_event(e, SM_EV_FLOW_CLOSED)->i[0], SM_CLOSE_DONE);
	cr_assert(eng_events(e, SM_EV_WS_TURN, m, 2) >= 1, "the open turn is flushed at the end");
	eng_check_seq(e, f->id);
	eng_delete(e);
}

Test(engine_h1, upgrade_to_the_raw_relay_when_observed)
{
	upgrade(true, false);
}

Test(engine_h1, upgrade_to_the_splice_tunnel_when_not_observed)
{
	upgrade(false, false);
	upgrade(false, true);
}

/* A request head that dribbles in byte by byte is still due from its first
 * byte (timeouts.request_head_ms): 408 and request_timeout, the idle
 * timeout never reached. */
Test(engine_h1, slow_request_head_is_a_408)
{
	const char *sets[] = {"timeouts.request_head_ms=1000", NULL};
	struct engine *e = eng_new(sets);
	struct sm_flow *f = eng_accept(e);
	uint64_t t0 = sm_now_ns();
	for (int i = 0; i < 10; i++) { /* "GET http:/", one byte at a time, time passing */
		eng_recv(e, cl_fd(f), REQ + i, 1);
		sm_loop_tick(&e->r, t0 + (uint64_t)i * 90000000ull); /* 90 ms apart */
		eng_settle(e);
		cr_assert_eq(f->state, SM_FLOW_OPEN, "byte %d: not yet due", i);
	}
	sm_loop_tick(&e->r, t0 + 1100000000ull);
	eng_settle(e);
	char buf[2048];
	size_t n = eng_take(e, cl_fd(f), buf, sizeof(buf) - 1);
	buf[n] = 0;
	cr_assert(!strncmp(buf, "HTTP/1.1 408 ", 13), "%s", buf);
	eng_recv(e, cl_fd(f), "", 0);
	cr_assert_eq(eng_event(e, SM_EV_FLOW_CLOSED)->i[0], SM_CLOSE_REQUEST_TIMEOUT);
	eng_delete(e);
}

/* A keep-alive connection between requests is governed by the idle
 * timeout, not the head deadline. */
Test(engine_h1, idle_keep_alive_is_not_a_slow_head)
{
	const char *sets[] = {"timeouts.request_head_ms=1000", NULL};
	struct engine *e = eng_new(sets);
	struct sm_flow *f = eng_accept(e);
	char buf[4096];
	eng_recv(e, cl_fd(f), REQ, sizeof(REQ) - 1);
	eng_complete(e, eng_need(e, EK_CONNECT, -1), 0, 0);
	eng_cancels(e);
	eng_take(e, up_fd(f), buf, sizeof(buf));
	eng_recv(e, up_fd(f), RESP, sizeof(RESP) - 1);
	eng_take(e, cl_fd(f), buf, sizeof(buf));
	sm_loop_tick(&e->r, sm_now_ns() + 5000000000ull); /* 5 s later */
	eng_settle(e);
	cr_assert_eq(f->state, SM_FLOW_OPEN, "idle between requests");
	eng_delete(e);
}

/* The upstream closes (FIN) or resets before any byte of its response:
 * the client gets a 502 naming it; the close reasons tell a FIN from a
 * reset. */
static void upstream_gone_before_answering(bool reset)
{
	struct engine *e = eng_new(NULL);
	struct sm_flow *f = eng_accept(e);
	char buf[4096];
	eng_recv(e, cl_fd(f), REQ, sizeof(REQ) - 1);
	eng_complete(e, eng_need(e, EK_CONNECT, -1), 0, 0);
	eng_cancels(e);
	eng_take(e, up_fd(f), buf, sizeof(buf));
	if (reset)
		eng_complete(e, eng_need(e, EK_RECV, up_fd(f)), -ECONNRESET, 0);
	else
		eng_recv(e, up_fd(f), "", 0);
	size_t n = eng_take(e, cl_fd(f), buf, sizeof(buf) - 1);
	buf[n] = 0;
	cr_assert(!strncmp(buf, "HTTP/1.1 502 ", 13), "%s", buf);
	cr_assert(strstr(buf, reset ? "reset the connection" : "closed the connection"), "%s", buf);
	eng_recv(e, cl_fd(f), "", 0);
	cr_assert_eq(eng_event(e, SM_EV_FLOW_CLOSED)->i[0],
	             reset ? SM_CLOSE_UPSTREAM_RESET : SM_CLOSE_UPSTREAM_CLOSED);
	cr_assert(!f->reset, "the client was answered: no reset passed on");
	eng_delete(e);
}

Test(engine_h1, upstream_close_before_the_response_is_a_502)
{
	upstream_gone_before_answering(false);
}

Test(engine_h1, upstream_reset_before_the_response_is_a_502)
{
	upstream_gone_before_answering(true);
}

/* An upstream that never answers: 504 after timeouts.upstream_response_ms
 * from the request sent, not the idle timeout. */
Test(engine_h1, silent_upstream_is_a_504)
{
	const char *sets[] = {"timeouts.upstream_response_ms=2000", NULL};
	struct engine *e = eng_new(sets);
	struct sm_flow *f = eng_accept(e);
	char buf[4096];
	eng_recv(e, cl_fd(f), REQ, sizeof(REQ) - 1);
	eng_complete(e, eng_need(e, EK_CONNECT, -1), 0, 0);
	eng_cancels(e);
	uint64_t sent = sm_now_ns();
	eng_take(e, up_fd(f), buf, sizeof(buf));
	sm_loop_tick(&e->r, sent + 1000000000ull);
	eng_settle(e);
	cr_assert_null(eng_find(e, EK_WRITE, cl_fd(f)), "not yet");
	sm_loop_tick(&e->r, sm_now_ns() + 2100000000ull);
	eng_settle(e);
	size_t n = eng_take(e, cl_fd(f), buf, sizeof(buf) - 1);
	buf[n] = 0;
	cr_assert(!strncmp(buf, "HTTP/1.1 504 ", 13), "%s", buf);
	eng_recv(e, cl_fd(f), "", 0);
	cr_assert_eq(eng_event(e, SM_EV_FLOW_CLOSED)->i[0], SM_CLOSE_UPSTREAM_TIMEOUT);
	eng_delete(e);
}

/* A request refused in its trailers (a framing field, RFC 9110 §6.5.1)
 * after its head and body went out: the client still gets a 400 naming
 * the fault, the upstream never gets the field's colon. */
Test(engine_h1, forbidden_trailer_after_the_head_is_a_400)
{
	static const char head[] = "POST http://127.0.0.1:8080/up HTTP/1.1\r\n"
	                           "Host: 127.0.0.1:8080\r\n"
	                           "Transfer-Encoding: chunked\r\n\r\n"
	                           "4\r\nabcd\r\n";
	static const char trailer[] = "0\r\nContent-Length: 5\r\n\r\n";
	struct engine *e = eng_new(NULL);
	struct sm_flow *f = eng_accept(e);
	char buf[4096];
	eng_recv(e, cl_fd(f), head, sizeof(head) - 1);
	eng_complete(e, eng_need(e, EK_CONNECT, -1), 0, 0);
	eng_cancels(e);
	size_t up = eng_take(e, up_fd(f), buf, sizeof(buf));
	cr_assert(up > 0 && memmem(buf, up, "abcd", 4), "the head and body went out");
	eng_recv(e, cl_fd(f), trailer, sizeof(trailer) - 1);
	up = eng_take(e, up_fd(f), buf, sizeof(buf));
	cr_assert(!memchr(buf, ':', up), "%.*s", (int)up, buf);
	size_t n = eng_take(e, cl_fd(f), buf, sizeof(buf) - 1);
	buf[n] = 0;
	cr_assert(!strncmp(buf, "HTTP/1.1 400 ", 13), "%s", buf);
	cr_assert(strstr(buf, "trailer_forbidden"), "%s", buf);
	eng_recv(e, cl_fd(f), "", 0);
	cr_assert_eq(eng_event(e, SM_EV_FLOW_CLOSED)->i[0], SM_CLOSE_BAD_REQUEST);
	eng_delete(e);
}
