/* A reactor's resources: set-up and teardown, the registered send chunks,
 * the provided receive buffers. The loop that runs on it is core/loop.c,
 * the flows core/flow.c, the ring's ops core/ring_uring.c. */
#include "core/reactor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/result.h"
#include "base/rng.h"
#include "proto/http1.h"
#include "tls/certcache.h"

struct io_uring_sqe *sm_sqe(struct sm_reactor *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	while (!sqe) {
		io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
	}
	return sqe;
}

/* ---- set-up ----------------------------------------------------------------- */

int sm_reactor_init(struct sm_reactor *r, const struct sm_proxy_rt *rt, const struct sm_config *cfg,
                    int index, int n_reactors, const struct sm_ring_ops *io, int collector_wake_fd,
                    char *err, size_t errcap)
{
	r->rt = rt;
	r->cfg = cfg;
	r->io = io;
	r->index = index;
	r->n_reactors = n_reactors;
	r->collector_wake_fd = collector_wake_fd;
	r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->wake_fd < 0) {
		snprintf(err, errcap, "eventfd: %s", strerror(errno));
		return SM_ERR_IO;
	}
	if (sm_event_ring_init(&r->events, cfg->limits.event_ring_size) != SM_OK) {
		snprintf(err, errcap, "event ring of %u records: out of memory",
		         cfg->limits.event_ring_size);
		return SM_ERR_NOMEM;
	}
	sm_tw_init(&r->tw, SM_TW_TICK_NS, sm_now_ns());
	r->rng = sm_rng_seed(cfg->seed ? cfg->seed : sm_wall_ns(), (uint32_t)index);
	sm_snap_init_static(&r->boot, cfg);
	r->held[0].s = &r->boot;
	r->snap_cur = 0;
	r->connect_ts.tv_sec = cfg->timeouts.connect_timeout_ms / 1000;
	r->connect_ts.tv_nsec = (long long)(cfg->timeouts.connect_timeout_ms % 1000) * 1000000;
	r->cap = cfg->limits.max_flows_per_thread;
	r->flows = calloc(r->cap, sizeof(*r->flows));
	r->free_slots = malloc(r->cap * sizeof(*r->free_slots));
	r->pipes_cap = SM_PIPES_CAP;
	r->pipes = malloc(r->pipes_cap * sizeof(*r->pipes));
	r->stacks_cap = SM_STACKS_CAP;
	r->stacks = malloc(r->stacks_cap * sizeof(*r->stacks));
	if (!r->flows || !r->free_slots || !r->pipes || !r->stacks) {
		snprintf(err, errcap, "reactor %d: flow table of %u: out of memory", index, r->cap);
		return SM_ERR_NOMEM;
	}
	for (uint32_t k = 0; k < r->cap; k++) {
		r->free_slots[k] = r->cap - 1 - k;
		r->flows[k].fd[0] = r->flows[k].fd[1] = -1;
	}
	r->n_free_slots = r->cap;
	return SM_OK;
}

size_t sm_reactor_mem_estimate(const struct sm_config *cfg, bool intercepting)
{
	const size_t flows = cfg->limits.max_flows_per_thread,
	             chunks = cfg->limits.send_chunks_per_thread,
	             bufs = cfg->limits.recv_buffers_per_thread;
	size_t n = sizeof(struct sm_reactor) + sizeof(struct sm_metrics);
	n += flows * (sizeof(struct sm_flow) + sizeof(uint32_t)); /* flow table, free list */
	n += (size_t)cfg->limits.event_ring_size * sizeof(struct sm_event); /* event ring */
	n += chunks * (SM_CHUNK_SIZE + sizeof(uint32_t));       /* registered send slab */
	n += bufs * (SM_BR_SIZE + sizeof(struct io_uring_buf)); /* provided receive buffers */
	n += SM_RING_SQ * (sizeof(struct io_uring_sqe) + sizeof(uint32_t)) +
	     SM_RING_CQ * sizeof(struct io_uring_cqe); /* the ring */
	n += SM_PIPES_CAP * sizeof(int[2]) + SM_STACKS_CAP * sizeof(void *);
	if (intercepting) /* leaf cache: entries, DER slots, buckets (tls/certcache.h) */
		n += (size_t)cfg->tls.cert_cache_size *
		     (sizeof(struct sm_certcache_entry) + SM_CERTCACHE_DER_MAX +
		      2 * sizeof(uint32_t));
	return n;
}

/* The send slab's chunk list; its last chunk holds the constant answers and
 * is never handed out. */
static int setup_chunks(struct sm_reactor *r, char *err, size_t errcap)
{
	r->free_chunks = malloc(r->n_chunks * sizeof(*r->free_chunks));
	if (!r->free_chunks) {
		snprintf(err, errcap, "reactor %d: send chunks: out of memory", r->index);
		return SM_ERR_NOMEM;
	}
	uint8_t *c = r->slab + (size_t)(r->n_chunks - 1) * SM_CHUNK_SIZE;
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	memcpy(c, ok, sizeof(ok) - 1);
	r->const_200 = c;
	r->const_200_len = sizeof(ok) - 1;
	long n = sm_h1_error_response(503, "proxy is busy: every send buffer is in use", c + 64,
	                              SM_CHUNK_SIZE - 64);
	r->const_503 = c + 64;
	r->const_503_len = n > 0 ? (uint32_t)n : 0;
	for (uint32_t k = 0; k + 1 < r->n_chunks; k++)
		r->free_chunks[k] = r->n_chunks - 2 - k;
	r->n_free_chunks = r->n_chunks - 1;
	return SM_OK;
}

int sm_reactor_open(struct sm_reactor *r, char *err, size_t errcap)
{
	int rc = r->io->setup(r, err, errcap);
	if (rc == SM_OK)
		rc = setup_chunks(r, err, errcap);
	return rc;
}

void sm_reactor_close(struct sm_reactor *r)
{
	r->io->teardown(r);
	free(r->free_chunks);
	r->free_chunks = NULL;
}

void sm_reactor_free(struct sm_reactor *r)
{
	for (uint32_t k = 0; k < r->n_pipes; k++) {
		close(r->pipes[k][0]);
		close(r->pipes[k][1]);
	}
	for (int k = 0; k < r->n_listen; k++)
		if (r->listen_fds[k] >= 0)
			close(r->listen_fds[k]);
	free(r->pipes);
	free(r->stacks);
	free(r->flows);
	free(r->free_slots);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	sm_event_ring_free(&r->events);
}

/* ---- send chunks and receive buffers ----------------------------------------- */

int32_t sm_chunk_get(struct sm_reactor *r)
{
	if (r->n_free_chunks == 0)
		return -1;
	SM_CTR_INC(r, send_chunks_in_use);
	return (int32_t)r->free_chunks[--r->n_free_chunks];
}

void sm_chunk_put(struct sm_reactor *r, int32_t c)
{
	if (c < 0)
		return;
	r->free_chunks[r->n_free_chunks++] = (uint32_t)c;
	SM_CTR_ADD(r, send_chunks_in_use, (uint64_t)0 - 1);
}

uint8_t *sm_chunk_ptr(struct sm_reactor *r, int32_t c)
{
	return r->slab + (size_t)c * SM_CHUNK_SIZE;
}

uint8_t *sm_br_buf(struct sm_reactor *r, unsigned bid)
{
	return r->br_mem + r->br_entries * sizeof(struct io_uring_buf) + (size_t)bid * r->br_size;
}

void sm_br_recycle(struct sm_reactor *r, unsigned bid)
{
	io_uring_buf_ring_add(r->br, sm_br_buf(r, bid), r->br_size, (unsigned short)bid,
	                      io_uring_buf_ring_mask(r->br_entries), 0);
	io_uring_buf_ring_advance(r->br, 1);
}
