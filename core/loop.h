/* The loop of one reactor (core/loop.c): it runs on the reactor's thread
 * from sm_loop_main() until a drain ends, and is the only caller of the
 * engine from the ring. The engine's unit tests drive it the same way,
 * through sm_loop_cqe() and sm_loop_settle(), on a fake ring. */
#ifndef SM_CORE_LOOP_H
#define SM_CORE_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct sm_reactor;

/* The reactor thread: opens the ring, accepts, dispatches, drains. */
void *sm_loop_main(void *reactor);

/* One completion of a flow operation (user_data ud, result res, CQE
 * flags): routed to the flow's tunnel, front end, or a side's transport and
 * the layer on top. A received buffer (IORING_CQE_F_BUFFER) is recycled
 * unless the tunnel keeps it. */
void sm_loop_cqe(struct sm_reactor *r, uint64_t ud, int res, unsigned flags);

/* Adopts the instance's current configuration snapshot (*r->snap_src)
 * for the flows opened from now on, and acknowledges its epoch; flows
 * keep theirs (core/snap.h). Deferred, unacknowledged, while every held
 * slot has flows (counted in config_adopt_deferred). */
void sm_loop_adopt(struct sm_reactor *r);

/* Arms every listener's accept (the loop's start). */
void sm_loop_listen(struct sm_reactor *r);

/* The completion of listener k's accept: a new flow (res: its socket), or
 * an error. Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
 * ENOMEM) the listener pauses: re-armed when a flow frees its sockets or
 * after a backoff (10 ms doubling to 1 s, reset by an accept that works),
 * counted in accept_errors and accept_pauses. */
void sm_loop_accept_cqe(struct sm_reactor *r, int k, int res, unsigned flags);

/* Runs the settle queue: frees replaced layers, gives a new tunnel's stack
 * back, tears down closed flows (once) and frees the slots whose operations
 * all completed. Called at the end of every dispatch (a batch of
 * completions, a tick). */
void sm_loop_settle(struct sm_reactor *r);

/* The flows' deadlines up to now (CLOCK_MONOTONIC ns): their timers fire,
 * the layers on top judge their own deadlines against now. The loop calls
 * it from its one ring timeout; tests pass a time of their choosing. */
void sm_loop_tick(struct sm_reactor *r, uint64_t now);

/* Opens the reactor's ring and resources (sm_reactor_open()) and its TLS
 * state (core/tls_rt.h) on the calling thread. SM_OK or an error in err. */
int sm_loop_open(struct sm_reactor *r, char *err, size_t errcap);
/* Releases every flow still open (a stop, a failed start), the pooled
 * stacks, the TLS state, and closes the ring and resources. */
void sm_loop_close(struct sm_reactor *r);

#endif
