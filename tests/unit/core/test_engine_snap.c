/* Reloads on a fake ring (tests/unit/core/engine.h): a published snapshot
 * is adopted for the flows opened after it, a running flow keeps the one it
 * was opened under, and each snapshot is let go when its last flow is. */
#include "engine.h"

#include "core/config.h"
#include "core/loop.h"
#include "core/snap.h"

static const char REQ[] = "GET http://127.0.0.1:8080/a HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

static struct sm_snap *snap_with(const char *set, uint64_t epoch)
{
	char err[256];
	struct sm_config *cfg = sm_config_default();
	cr_assert_not_null(cfg);
	cr_assert_eq(sm_config_set(cfg, set, err, sizeof(err)), SM_OK, "%s", err);
	struct sm_snap *s = sm_snap_new(cfg, epoch);
	cr_assert_not_null(s);
	return s;
}

/* The flow's next request: forwarded (a connect) or refused (a 403). */
static bool forwarded(struct engine *e, struct sm_flow *f)
{
	eng_recv(e, f->fd[SM_SIDE_CLIENT], REQ, sizeof(REQ) - 1);
	if (eng_find(e, EK_CONNECT, -1))
		return true;
	char buf[2048];
	size_t n = eng_take(e, f->fd[SM_SIDE_CLIENT], buf, sizeof(buf) - 1);
	buf[n] = 0;
	cr_assert(!strncmp(buf, "HTTP/1.1 403 ", 13), "%s", buf);
	return false;
}

Test(engine_snap, new_flows_get_the_reload_running_ones_keep_theirs)
{
	const char *sets[] = {"default_action=tunnel", NULL};
	struct engine *e = calloc(1, sizeof(*e));
	cr_assert_not_null(e);
	eng_init(e, sets, NULL, NULL, 0);
	struct sm_snap *_Atomic src = NULL;
	e->r.snap_src = &src;

	struct sm_flow *old = eng_accept(e); /* under the start-up configuration */
	struct sm_snap *b = snap_with("default_action=block", 1);
	atomic_store(&src, b);
	sm_loop_adopt(&e->r);
	cr_assert_eq(atomic_load(&e->r.snap_epoch), 1);
	cr_assert_eq(atomic_load(&b->refs), 2, "ours and the reactor's");
	cr_assert_eq(old->snap->epoch, 0);

	struct sm_flow *neu = eng_accept(e);
	cr_assert_eq(neu->snap, b);
	cr_assert(!forwarded(e, neu), "a flow opened after the reload follows it");
	cr_assert(forwarded(e, old), "a running flow keeps its configuration");

	/* another reload while a flow of b is still open: b stays alive */
	struct sm_snap *c = snap_with("default_action=tunnel", 2);
	atomic_store(&src, c);
	sm_loop_adopt(&e->r);
	sm_snap_put(b); /* the instance lets go of b */
	cr_assert_eq(atomic_load(&b->refs), 1, "the reactor holds b for its flow");
	int held = 0;
	for (int k = 0; k < SM_SNAP_HELD; k++)
		held += e->r.held[k].s != NULL;
	cr_assert_eq(held, 3, "the start-up one (a flow), b (a flow), c (current)");
	eng_free(e); /* frees the flows: b goes with its last one (ASan: no leak) */
	cr_assert_eq(atomic_load(&c->refs), 1, "only ours is left");
	sm_snap_put(c);
	free(e);
}

Test(engine_snap, a_full_table_puts_adoption_off_without_acknowledging)
{
	struct engine *e = calloc(1, sizeof(*e));
	cr_assert_not_null(e);
	eng_init(e, NULL, NULL, NULL, 0);
	struct sm_snap *_Atomic src = NULL;
	e->r.snap_src = &src;
	struct sm_snap *s[SM_SNAP_HELD + 1];
	/* one flow under each of SM_SNAP_HELD snapshots: every slot is taken
	 * (eng_accept keeps up to 8 clients: the rest are opened by hand) */
	int fds[SM_SNAP_HELD];
	for (int k = 0; k < SM_SNAP_HELD; k++) {
		if (k) {
			s[k] = snap_with("http2=false", (uint64_t)k);
			atomic_store(&src, s[k]);
			sm_loop_adopt(&e->r);
		}
		int sv[2];
		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		fds[k] = sv[1];
		cr_assert_not_null(sm_flow_open(&e->r, sv[0]));
	}
	s[SM_SNAP_HELD] = snap_with("http2=false", SM_SNAP_HELD);
	atomic_store(&src, s[SM_SNAP_HELD]);
	sm_loop_adopt(&e->r);
	cr_assert_eq(atomic_load(&e->r.snap_epoch), SM_SNAP_HELD - 1, "not acknowledged");
	cr_assert_eq(sm_metrics_get(&e->m->config_adopt_deferred), 1);
	eng_free(e);
	for (int k = 1; k <= SM_SNAP_HELD; k++)
		sm_snap_put(s[k]);
	for (int k = 0; k < SM_SNAP_HELD; k++)
		close(fds[k]);
	free(e);
}
