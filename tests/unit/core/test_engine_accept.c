/* The loop's accepts on a fake ring (tests/unit/core/engine.h): a shortage
 * of descriptors pauses accepting instead of re-arming into the same error
 * (which spun a core for as long as the table stayed full), a backoff or a
 * freed flow resumes it, and every failure is counted by errno. */
#include "engine.h"

#include <errno.h>

#include "core/loop.h"

static struct engine *e;
static int lfd = -1;

static void setup(void)
{
	e = calloc(1, sizeof(*e));
	cr_assert_not_null(e);
	eng_init(e, NULL, NULL, NULL, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(lfd >= 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lfd, 8), 0);
	e->r.listen_fds[0] = lfd;
	e->r.n_listen = 1;
	sm_loop_listen(&e->r);
}

static void teardown_(void)
{
	e->r.listen_fds[0] = -1;
	e->r.n_listen = 0;
	eng_free(e);
	free(e);
	close(lfd);
}

TestSuite(engine_accept, .init = setup, .fini = teardown_);

static void accept_fails(int err)
{
	struct eng_op *o = eng_need(e, EK_ACCEPT, lfd);
	o->live = false;
	sm_loop_accept_cqe(&e->r, 0, -err, 0); /* an error ends the multishot */
	eng_settle(e);
}

static uint64_t ctr(_Atomic uint64_t *c)
{
	return sm_metrics_get(c);
}

Test(engine_accept, emfile_pauses_until_the_backoff_ends)
{
	uint64_t t0 = sm_now_ns();
	accept_fails(EMFILE);
	cr_assert_null(eng_find(e, EK_ACCEPT, lfd), "re-armed into the same shortage");
	cr_assert_eq(ctr(&e->m->accept_errors[SM_ACCEPT_EMFILE]), 1);
	cr_assert_eq(ctr(&e->m->accept_pauses), 1);
	sm_loop_tick(&e->r, t0 + 5000000ull); /* 5 ms: the first backoff is 10 */
	cr_assert_null(eng_find(e, EK_ACCEPT, lfd));
	uint64_t t1 = sm_now_ns() + 10000000ull;
	sm_loop_tick(&e->r, t1);
	eng_need(e, EK_ACCEPT, lfd);

	/* failing again doubles the backoff: 10 ms later is not enough */
	accept_fails(ENFILE);
	cr_assert_eq(ctr(&e->m->accept_errors[SM_ACCEPT_ENFILE]), 1);
	cr_assert_eq(ctr(&e->m->accept_pauses), 2);
	uint64_t t2 = sm_now_ns();
	sm_loop_tick(&e->r, t2 + 15000000ull);
	cr_assert_null(eng_find(e, EK_ACCEPT, lfd));
	sm_loop_tick(&e->r, t2 + 2000000000ull);
	eng_need(e, EK_ACCEPT, lfd);
}

Test(engine_accept, backoff_is_capped_and_reset_by_a_working_accept)
{
	for (int k = 0; k < 12; k++) {
		accept_fails(EMFILE);
		sm_loop_tick(&e->r, sm_now_ns() + 2000000000ull);
		eng_need(e, EK_ACCEPT, lfd);
	}
	/* capped at 1 s: resumed 1 s after the last failure */
	accept_fails(EMFILE);
	uint64_t t = sm_now_ns();
	sm_loop_tick(&e->r, t + 1001000000ull);
	eng_need(e, EK_ACCEPT, lfd);

	int sv[2];
	eng_tcp_pair(sv);
	sm_loop_accept_cqe(&e->r, 0, sv[0], IORING_CQE_F_MORE);
	eng_settle(e);
	cr_assert_eq(ctr(&e->m->accepted), 1);
	cr_assert_eq(e->r.n_open, 1);
	/* a working accept reset the backoff to 10 ms */
	accept_fails(EMFILE);
	t = sm_now_ns();
	sm_loop_tick(&e->r, t + 11000000ull);
	eng_need(e, EK_ACCEPT, lfd);
	close(sv[1]);
}

Test(engine_accept, a_freed_flow_resumes_at_once)
{
	int sv[2];
	eng_tcp_pair(sv);
	sm_loop_accept_cqe(&e->r, 0, sv[0], IORING_CQE_F_MORE);
	eng_settle(e);
	cr_assert_eq(e->r.n_open, 1);
	struct sm_flow *f = NULL;
	for (uint32_t k = 0; k < e->r.cap && !f; k++)
		if (e->r.flows[k].state != SM_FLOW_FREE)
			f = &e->r.flows[k];
	cr_assert_not_null(f);

	accept_fails(EMFILE);
	cr_assert_null(eng_find(e, EK_ACCEPT, lfd));
	eng_recv(e, sv[0], NULL, 0); /* the client leaves: its flow closes */
	eng_cancel_all(e, sv[0]);
	cr_assert_eq(e->r.n_open, 0);
	eng_need(e, EK_ACCEPT, lfd); /* no tick needed */
	cr_assert_eq(ctr(&e->m->flows_closed), 1);
	close(sv[1]);
}

Test(engine_accept, other_errors_keep_accepting)
{
	accept_fails(ECONNABORTED);
	eng_need(e, EK_ACCEPT, lfd);
	cr_assert_eq(ctr(&e->m->accept_errors[SM_ACCEPT_OTHER]), 1);
	cr_assert_eq(ctr(&e->m->accept_pauses), 0);
	/* still armed (F_MORE) with a shortage: cancelled, then paused */
	struct eng_op *o = eng_need(e, EK_ACCEPT, lfd);
	sm_loop_accept_cqe(&e->r, 0, -EMFILE, IORING_CQE_F_MORE);
	eng_settle(e);
	cr_assert(o->live, "the armed accept stays until its cancel lands");
	eng_need(e, EK_CANCEL, -1);
	o->live = false;
	sm_loop_accept_cqe(&e->r, 0, -ECANCELED, 0);
	eng_settle(e);
	cr_assert_null(eng_find(e, EK_ACCEPT, lfd), "the cancel's completion re-armed it");
	cr_assert_eq(ctr(&e->m->accept_errors[SM_ACCEPT_EMFILE]), 1);
	sm_loop_tick(&e->r, sm_now_ns() + 2000000000ull);
	eng_need(e, EK_ACCEPT, lfd);
}
