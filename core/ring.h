/* The I/O a reactor's flows ask of its ring, as an ops table.
 *
 * Flows, transports, layers and tunnels submit through these and never call
 * io_uring_prep_* themselves: the reactor installs sm_ring_uring (core/
 * ring_uring.c), and the engine's unit tests install a fake ring that
 * records every request and completes it by hand (tests/unit/core/
 * engine.h), so the whole engine runs, byte for byte, without a kernel.
 *
 * Every request carries its user_data (core/uring_ud.h, made by
 * sm_flow_op()); its completion comes back through sm_loop_cqe() with
 * the same user_data, whichever ring ran it. A receive picks its memory
 * from the reactor's provided-buffer ring (r->br); a write sends from
 * registered memory (a send chunk, r->slab). */
#ifndef SM_CORE_RING_H
#define SM_CORE_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct sm_reactor;

struct sm_ring_ops {
	const char *name;
	/* Creates the ring and its resources on the reactor's thread: the
	 * provided-buffer ring (r->br), the registered send slab (r->slab),
	 * the DNS channel. SM_OK, or an error with a message in err. */
	int (*setup)(struct sm_reactor *r, char *err, size_t errcap);
	void (*teardown)(struct sm_reactor *r);
	/* recv into a buffer the kernel selects from r->br */
	/* multishot accept on a listening socket (SOCK_CLOEXEC) */
	void (*accept)(struct sm_reactor *r, int fd, uint64_t ud);
	void (*recv)(struct sm_reactor *r, int fd, uint64_t ud);
	/* send n bytes of registered memory (a send chunk) */
	void (*write)(struct sm_reactor *r, int fd, const uint8_t *p, unsigned n, uint64_t ud);
	/* send n bytes of other memory (a received buffer, tunnel copy mode) */
	void (*send)(struct sm_reactor *r, int fd, const uint8_t *p, unsigned n, uint64_t ud);
	/* connect; linked to a timeout (timeout_ud) of timeouts.connect_timeout_ms
	 * that cancels it (-ECANCELED) */
	void (*connect)(struct sm_reactor *r, int fd, const struct sockaddr *sa, socklen_t len,
	                uint64_t ud, uint64_t timeout_ud);
	void (*poll)(struct sm_reactor *r, int fd, unsigned events, uint64_t ud);
	/* non-blocking splice of at most n bytes */
	void (*splice)(struct sm_reactor *r, int in, int out, unsigned n, uint64_t ud);
	/* shutdown(SHUT_WR) */
	void (*shutdown)(struct sm_reactor *r, int fd, uint64_t ud);
	/* cancels every op on fd / the op submitted with user_data target */
	void (*cancel_fd)(struct sm_reactor *r, int fd, uint64_t ud);
	void (*cancel)(struct sm_reactor *r, uint64_t target, uint64_t ud);
};

/* The kernel's io_uring (core/ring_uring.c). */
extern const struct sm_ring_ops sm_ring_uring;

#endif
