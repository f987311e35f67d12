/* Test harness for the flow engine (header-only, test code only): a
 * reactor whose ring is fake. Every operation the engine submits through
 * struct sm_ring_ops is recorded here instead of reaching the kernel; the
 * test completes it by hand (bytes received, bytes written, a connect
 * result) through sm_loop_cqe(), exactly as the io_uring loop does, and
 * ends each "dispatch" with sm_loop_settle(). Sockets are real
 * (socketpairs, an unconnected TCP socket for each upstream) so the engine's
 * own syscalls (getpeername, shutdown, close) work, but no byte crosses
 * them: what the client and the origin say and hear is in the test. */
#ifndef SM_TEST_ENGINE_H
#define SM_TEST_ENGINE_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/result.h"
#include "core/config.h"
#include "core/flow.h"
#include "core/hosts.h"
#include "core/loop.h"
#include "core/proxy_internal.h"
#include "core/reactor.h"
#include "core/stack.h"
#include "telemetry/event.h"
#include "telemetry/event_ring.h"

enum eng_kind {
	EK_ACCEPT = 1,
	EK_RECV,
	EK_WRITE,
	EK_SEND,
	EK_CONNECT,
	EK_POLL,
	EK_SPLICE,
	EK_SHUTDOWN,
	EK_CANCEL_FD,
	EK_CANCEL,
};

struct eng_op {
	uint8_t kind; /* enum eng_kind */
	bool live;    /* submitted and not completed */
	int fd;
	uint64_t ud;
	const uint8_t *p; /* EK_WRITE, EK_SEND: the bytes */
	unsigned n;
	uint64_t seq; /* submission order */
};

#define ENG_OPS    4096
#define ENG_EVENTS 4096
#define ENG_CHUNKS 64

struct engine {
	struct sm_reactor r; /* first: the ring ops find the engine from it */
	struct sm_config *cfg;
	struct sm_metrics_layouts lay;
	struct sm_metrics *m;
	struct sm_hosts hosts;
	struct sm_proxy_rt rt;
	struct eng_op ops[ENG_OPS];
	unsigned nops; /* where the next submission looks for a free slot */
	uint64_t seq;
	unsigned next_bid;
	struct sm_event ev[ENG_EVENTS]; /* every event so far, in order */
	size_t nev;
	int peer[8]; /* the test's ends of client socketpairs */
	int npeer;
};

static inline struct engine *E(struct sm_reactor *r)
{
	return (struct engine *)r;
}

static inline void eng_push(struct sm_reactor *r, uint8_t kind, int fd, uint64_t ud,
                            const uint8_t *p, unsigned n)
{
	struct engine *e = E(r);
	/* a completed slot is reused in place: a test's pointer to a live
	 * operation stays valid until it completes */
	for (unsigned k = 0; k < ENG_OPS; k++) {
		struct eng_op *o = &e->ops[(e->nops + k) % ENG_OPS];
		if (o->live)
			continue;
		*o = (struct eng_op){kind, true, fd, ud, p, n, ++e->seq};
		e->nops = (e->nops + k + 1) % ENG_OPS;
		return;
	}
	cr_assert_fail("too many ring operations in flight");
}

static inline int fake_setup(struct sm_reactor *r, char *err, size_t errcap)
{
	(void)err, (void)errcap;
	r->br_entries = 64;
	r->br_size = SM_BR_SIZE;
	r->br_mem_len =
	        r->br_entries * sizeof(struct io_uring_buf) + (size_t)r->br_entries * r->br_size;
	r->br_mem = calloc(1, r->br_mem_len);
	r->br = (struct io_uring_buf_ring *)r->br_mem;
	r->n_chunks = ENG_CHUNKS;
	r->slab_len = (size_t)r->n_chunks * SM_CHUNK_SIZE;
	r->slab = calloc(1, r->slab_len);
	cr_assert(r->br_mem && r->slab);
	io_uring_buf_ring_init(r->br);
	return SM_OK; /* no DNS: names other than IP literals fail to resolve */
}

static inline void fake_teardown(struct sm_reactor *r)
{
	free(r->br_mem);
	free(r->slab);
	r->br_mem = NULL;
	r->slab = NULL;
}

static inline void fake_accept(struct sm_reactor *r, int fd, uint64_t ud)
{
	eng_push(r, EK_ACCEPT, fd, ud, NULL, 0);
}

static inline void fake_recv(struct sm_reactor *r, int fd, uint64_t ud)
{
	eng_push(r, EK_RECV, fd, ud, NULL, 0);
}

static inline void fake_write(struct sm_reactor *r, int fd, const uint8_t *p, unsigned n,
                              uint64_t ud)
{
	cr_assert(p >= r->slab && p + n <= r->slab + r->slab_len,
	          "writes go out of registered memory");
	eng_push(r, EK_WRITE, fd, ud, p, n);
}

static inline void fake_send(struct sm_reactor *r, int fd, const uint8_t *p, unsigned n,
                             uint64_t ud)
{
	eng_push(r, EK_SEND, fd, ud, p, n);
}

static inline void fake_connect(struct sm_reactor *r, int fd, const struct sockaddr *sa,
                                socklen_t len, uint64_t ud, uint64_t timeout_ud)
{
	(void)sa, (void)len;
	eng_push(r, EK_CONNECT, fd, ud, NULL, 0);
	eng_push(r, EK_CANCEL, -1, timeout_ud, NULL, 0); /* the linked timeout */
}

static inline void fake_poll(struct sm_reactor *r, int fd, unsigned events, uint64_t ud)
{
	eng_push(r, EK_POLL, fd, ud, NULL, events);
}

static inline void fake_splice(struct sm_reactor *r, int in, int out, unsigned n, uint64_t ud)
{
	(void)out;
	eng_push(r, EK_SPLICE, in, ud, NULL, n);
}

static inline void fake_shutdown(struct sm_reactor *r, int fd, uint64_t ud)
{
	eng_push(r, EK_SHUTDOWN, fd, ud, NULL, 0);
}

static inline void fake_cancel_fd(struct sm_reactor *r, int fd, uint64_t ud)
{
	eng_push(r, EK_CANCEL_FD, fd, ud, NULL, 0);
}

static inline void fake_cancel(struct sm_reactor *r, uint64_t target, uint64_t ud)
{
	(void)target;
	eng_push(r, EK_CANCEL, -1, ud, NULL, 0);
}

static const struct sm_ring_ops eng_ring = {
        .name = "fake",
        .setup = fake_setup,
        .teardown = fake_teardown,
        .accept = fake_accept,
        .recv = fake_recv,
        .write = fake_write,
        .send = fake_send,
        .connect = fake_connect,
        .poll = fake_poll,
        .splice = fake_splice,
        .shutdown = fake_shutdown,
        .cancel_fd = fake_cancel_fd,
        .cancel = fake_cancel,
};

/* A reactor over the fake ring with the defaults and each "key=value" of
 * sets (NULL-terminated), events on. ca: the CA interception uses (NULL:
 * none), trust: the PEM roots upstreams are verified against. */
static inline void eng_init(struct engine *e, const char *const *sets, const struct sm_ca *ca,
                            const uint8_t *trust, size_t trust_len)
{
	char err[512];
	memset(e, 0, sizeof(*e));
	e->cfg = sm_config_default();
	cr_assert(e->cfg);
	for (size_t k = 0; sets && sets[k]; k++)
		cr_assert_eq(sm_config_set(e->cfg, sets[k], err, sizeof(err)), SM_OK, "%s: %s",
		             sets[k], err);
	cr_assert_eq(sm_metrics_layouts_init(&e->lay), SM_OK);
	e->m = aligned_alloc(_Alignof(struct sm_metrics), sizeof(*e->m));
	cr_assert(e->m);
	sm_metrics_init(e->m, &e->lay);
	cr_assert_eq(sm_hosts_parse(&e->hosts, "", 0), SM_OK);
	e->rt = (struct sm_proxy_rt){
	        .hosts = &e->hosts, .ca = ca, .trust_pem = trust, .trust_len = trust_len};
	struct sm_reactor *r = &e->r;
	for (int k = 0; k < SM_MAX_LISTEN; k++)
		r->listen_fds[k] = -1;
	r->m = e->m;
	cr_assert_eq(sm_reactor_init(r, &e->rt, e->cfg, 0, 1, &eng_ring, -1, err, sizeof(err)),
	             SM_OK, "%s", err);
	r->events_on = true;
	cr_assert_eq(sm_loop_open(r, err, sizeof(err)), SM_OK, "%s", err);
}

static inline void eng_free(struct engine *e)
{
	sm_loop_close(&e->r);
	sm_reactor_free(&e->r);
	for (int k = 0; k < e->npeer; k++)
		close(e->peer[k]);
	sm_hosts_free(&e->hosts);
	free(e->m);
	sm_config_free(e->cfg);
}

/* Moves what the reactor recorded into e->ev. */
static inline void eng_drain_events(struct engine *e)
{
	for (;;) {
		cr_assert(e->nev < ENG_EVENTS);
		size_t n = sm_event_ring_pop(&e->r.events, &e->ev[e->nev], ENG_EVENTS - e->nev);
		if (!n)
			return;
		e->nev += n;
	}
}

/* The end of a dispatch, as the loop ends each batch. */
static inline void eng_settle(struct engine *e)
{
	sm_loop_settle(&e->r);
	eng_drain_events(e);
}

/* A connected pair of TCP sockets on 127.0.0.1 (the client's address is
 * what allow_clients and the events see). */
static inline void eng_tcp_pair(int sv[2])
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(l >= 0);
	cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(l, 1), 0);
	cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
	sv[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(sv[1], (struct sockaddr *)&a, sizeof(a)), 0);
	sv[0] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	cr_assert(sv[0] >= 0);
	close(l);
}

/* A new client connection accepted: its flow (the test keeps the client's
 * end, so the engine's getpeername, shutdown and close work). */
static inline struct sm_flow *eng_accept(struct engine *e)
{
	int sv[2];
	eng_tcp_pair(sv);
	cr_assert(e->npeer < 8);
	e->peer[e->npeer++] = sv[1];
	struct sm_flow *f = sm_flow_open(&e->r, sv[0]);
	cr_assert_not_null(f);
	sm_front_start(&e->r, f);
	eng_settle(e);
	return f;
}

/* The oldest live operation of kind on fd (fd -1: any); NULL if none. */
static inline struct eng_op *eng_find(struct engine *e, int kind, int fd)
{
	struct eng_op *best = NULL;
	for (unsigned k = 0; k < ENG_OPS; k++) {
		struct eng_op *o = &e->ops[k];
		if (o->live && o->kind == kind && (fd < 0 || o->fd == fd) &&
		    (!best || o->seq < best->seq))
			best = o;
	}
	return best;
}

static inline struct eng_op *eng_need(struct engine *e, int kind, int fd)
{
	struct eng_op *o = eng_find(e, kind, fd);
	cr_assert_not_null(o, "no pending operation of kind %d on fd %d", kind, fd);
	return o;
}

/* Completes o with res (and CQE flags), as one dispatch. */
static inline void eng_complete(struct engine *e, struct eng_op *o, int res, unsigned flags)
{
	o->live = false;
	sm_loop_cqe(&e->r, o->ud, res, flags);
	eng_settle(e);
}

/* The pending recv on fd receives p[0..n) (n > 0), or EOF (n == 0). */
static inline void eng_recv(struct engine *e, int fd, const void *p, size_t n)
{
	struct eng_op *o = eng_need(e, EK_RECV, fd);
	cr_assert(n <= SM_BR_SIZE);
	if (n == 0) {
		eng_complete(e, o, 0, 0);
		return;
	}
	unsigned bid = e->next_bid++ % e->r.br_entries;
	memcpy(sm_br_buf(&e->r, bid), p, n);
	eng_complete(e, o, (int)n, IORING_CQE_F_BUFFER | (bid << IORING_CQE_BUFFER_SHIFT));
}

/* Everything written on fd: each pending write completed whole, its bytes
 * appended to out (up to cap; the count returned), until none is pending. */
static inline size_t eng_take(struct engine *e, int fd, void *out, size_t cap)
{
	size_t got = 0;
	struct eng_op *o;
	while ((o = eng_find(e, EK_WRITE, fd))) {
		cr_assert(got + o->n <= cap, "more written than the test expects");
		memcpy((uint8_t *)out + got, o->p, o->n);
		got += o->n;
		eng_complete(e, o, (int)o->n, 0);
	}
	return got;
}

/* Completes every pending cancel (they report nothing back). */
static inline void eng_cancels(struct engine *e)
{
	struct eng_op *o;
	while ((o = eng_find(e, EK_CANCEL, -1)) || (o = eng_find(e, EK_CANCEL_FD, -1)))
		eng_complete(e, o, 0, 0);
}

/* A flow closing completes what it had in flight with -ECANCELED. */
static inline void eng_cancel_all(struct engine *e, int fd)
{
	struct eng_op *o;
	for (unsigned k = 0; k < ENG_OPS; k++) {
		o = &e->ops[k];
		if (o->live && o->fd == fd && o->kind != EK_CANCEL_FD)
			eng_complete(e, o, -ECANCELED, 0);
	}
	eng_cancels(e);
}

/* The events of one type so far, in order: up to max copied to out. */
static inline size_t eng_events(struct engine *e, int type, const struct sm_event **out, size_t max)
{
	size_t n = 0;
	for (size_t k = 0; k < e->nev; k++)
		if (e->ev[k].type == type) {
			if (n < max)
				out[n] = &e->ev[k];
			n++;
		}
	return n;
}

static inline const struct sm_event *eng_event(struct engine *e, int type)
{
	const struct sm_event *ev = NULL;
	cr_assert_eq(eng_events(e, type, &ev, 1), 1, "want one %s event", sm_event_type_name(type));
	return ev;
}

/* The event's string k equals s. */
static inline bool eng_str_is(const struct sm_event *ev, int k, const char *s)
{
	return ev->slen[k] == strlen(s) && memcmp(ev->s[k], s, ev->slen[k]) == 0;
}

/* The seq of every event of a flow increases by one, from 0. */
static inline void eng_check_seq(struct engine *e, uint64_t flow)
{
	uint32_t next = 0;
	for (size_t k = 0; k < e->nev; k++) {
		if (e->ev[k].flow != flow || e->ev[k].type == SM_EV_TLS_KEYLOG)
			continue;
		cr_assert_eq(e->ev[k].seq, next, "event %zu of flow %llu", k,
		             (unsigned long long)flow);
		next++;
	}
}

#endif
