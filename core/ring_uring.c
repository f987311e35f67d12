/* The kernel's io_uring behind struct sm_ring_ops (core/ring.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "base/result.h"
#include "core/dns.h"
#include "core/reactor.h"

/* The provided-buffer ring, registered by hand: liburing 2.3 (Debian 12)
 * has no io_uring_setup_buf_ring. */
static int setup_buf_ring(struct sm_reactor *r, char *err, size_t errcap)
{
	r->br_entries = r->cfg->limits.recv_buffers_per_thread; /* a power of two */
	r->br_size = SM_BR_SIZE;
	size_t ring_bytes = r->br_entries * sizeof(struct io_uring_buf);
	r->br_mem_len = ring_bytes + (size_t)r->br_entries * r->br_size;
	r->br_mem = mmap(NULL, r->br_mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	                 -1, 0);
	if (r->br_mem == MAP_FAILED) {
		r->br_mem = NULL;
		snprintf(err, errcap, "reactor %d: buffer ring mmap: %s", r->index,
		         strerror(errno));
		return SM_ERR_NOMEM;
	}
	r->br = (struct io_uring_buf_ring *)r->br_mem;
	struct io_uring_buf_reg reg = {
	        .ring_addr = (uint64_t)(uintptr_t)r->br,
	        .ring_entries = r->br_entries,
	        .bgid = SM_BR_BGID,
	};
	int rc = io_uring_register_buf_ring(&r->ring, &reg, 0);
	if (rc) {
		snprintf(err, errcap, "reactor %d: register buffer ring: %s", r->index,
		         strerror(-rc));
		return SM_ERR_IO;
	}
	io_uring_buf_ring_init(r->br);
	for (uint32_t k = 0; k < r->br_entries; k++)
		sm_br_recycle(r, k);
	return SM_OK;
}

static int setup_slab(struct sm_reactor *r, char *err, size_t errcap)
{
	r->n_chunks = r->cfg->limits.send_chunks_per_thread;
	r->slab_len = (size_t)r->n_chunks * SM_CHUNK_SIZE;
	r->slab =
	        mmap(NULL, r->slab_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->slab == MAP_FAILED) {
		r->slab = NULL;
		snprintf(err, errcap, "reactor %d: send slab mmap: %s", r->index, strerror(errno));
		return SM_ERR_NOMEM;
	}
	struct iovec iov = {.iov_base = r->slab, .iov_len = r->slab_len};
	int rc = io_uring_register_buffers(&r->ring, &iov, 1);
	if (rc) {
		snprintf(err, errcap, "reactor %d: register buffers: %s", r->index, strerror(-rc));
		return SM_ERR_IO;
	}
	return SM_OK;
}

/* On the reactor thread: SINGLE_ISSUER binds the ring to the thread that
 * creates it. */
static int setup(struct sm_reactor *r, char *err, size_t errcap)
{
	struct io_uring_params params = {0};
	params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
	               IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE;
	params.cq_entries = 8192;
	int rc = io_uring_queue_init_params(2048, &r->ring, &params);
	if (rc) {
		/* EPERM / ENOSYS: a seccomp filter (Docker's and podman's
		 * defaults) or kernel.io_uring_disabled forbids io_uring */
		bool denied = rc == -EPERM || rc == -ENOSYS;
		snprintf(err, errcap, "reactor %d: io_uring_queue_init: %s%s", r->index,
		         strerror(-rc),
		         denied ? " (io_uring is forbidden here: a container's seccomp profile or "
		                  "sysctl kernel.io_uring_disabled; see docs/operations.md, "
		                  "Containers)"
		                : "");
		return SM_ERR_IO;
	}
	rc = setup_buf_ring(r, err, errcap);
	if (rc == SM_OK)
		rc = setup_slab(r, err, errcap);
	if (rc == SM_OK) {
		r->dns = sm_dns_create(r, r->cfg->dns_servers, r->cfg->timeouts.dns_timeout_ms, err,
		                       errcap);
		if (!r->dns)
			rc = SM_ERR_IO;
	}
	return rc;
}

static void teardown(struct sm_reactor *r)
{
	sm_dns_destroy(r->dns);
	r->dns = NULL;
	io_uring_queue_exit(&r->ring);
	if (r->br_mem)
		munmap(r->br_mem, r->br_mem_len);
	if (r->slab)
		munmap(r->slab, r->slab_len);
	r->br_mem = NULL;
	r->slab = NULL;
}

static void accept_(struct sm_reactor *r, int fd, uint64_t ud)
{
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud);
}

static void recv_(struct sm_reactor *r, int fd, uint64_t ud)
{
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_recv(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = SM_BR_BGID;
	io_uring_sqe_set_data64(sqe, ud);
}

static void write_(struct sm_reactor *r, int fd, const uint8_t *p, unsigned n, uint64_t ud)
{
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_write_fixed(sqe, fd, p, n, 0, 0);
	io_uring_sqe_set_data64(sqe, ud);
}

static void send_(struct sm_reactor *r, int fd, const uint8_t *p, unsigned n, uint64_t ud)
{
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_send(sqe, fd, p, n, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud);
}

static void connect_(struct sm_reactor *r, int fd, const struct sockaddr *sa, socklen_t len,
                     uint64_t ud, uint64_t timeout_ud)
{
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_connect(sqe, fd, sa, len);
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(sqe, ud);
	sqe = sm_sqe(r);
	io_uring_prep_link_timeout(sqe, &r->connect_ts, 0);
	io_uring_sqe_set_data64(sqe, timeout_ud);
}

static void poll_(struct sm_reactor *r, int fd, unsigned events, uint64_t ud)
{
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_poll_add(sqe, fd, events);
	io_uring_sqe_set_data64(sqe, ud);
}

static void splice_(struct sm_reactor *r, int in, int out, unsigned n, uint64_t ud)
{
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_splice(sqe, in, -1, out, -1, n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	io_uring_sqe_set_data64(sqe, ud);
}

static void shutdown_(struct sm_reactor *r, int fd, uint64_t ud)
{
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_shutdown(sqe, fd, SHUT_WR);
	io_uring_sqe_set_data64(sqe, ud);
}

static void cancel_fd(struct sm_reactor *r, int fd, uint64_t ud)
{
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, ud);
}

static void cancel(struct sm_reactor *r, uint64_t target, uint64_t ud)
{
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_cancel64(sqe, target, 0);
	io_uring_sqe_set_data64(sqe, ud);
}

const struct sm_ring_ops sm_ring_uring = {
        .name = "io_uring",
        .setup = setup,
        .teardown = teardown,
        .accept = accept_,
        .recv = recv_,
        .write = write_,
        .send = send_,
        .connect = connect_,
        .poll = poll_,
        .splice = splice_,
        .shutdown = shutdown_,
        .cancel_fd = cancel_fd,
        .cancel = cancel,
};
