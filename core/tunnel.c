/* Splice tunnels: socket -> pipe -> socket on io_uring, per direction.
 *
 * Each direction cycles POLL_IN -> SPLICE_IN -> SPLICE_OUT (-> POLL_OUT when
 * the destination is full) -> POLL_IN. Splices are non-blocking so an io-wq
 * worker never parks on an idle socket; readiness comes from ring polls.
 * A direction holds a pipe only while bytes sit in it: an idle tunnel owns
 * no pipe, and at most one pipe's worth (64 KiB) per direction is in flight,
 * which is the backpressure bound. EOF on a source becomes shutdown(SHUT_WR)
 * on the destination (half-close); the flow ends when both directions did. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/reactor.h"
#include "telemetry/event.h"

static const enum sm_op op_poll_in[2] = {SM_OP_POLL_IN0, SM_OP_POLL_IN1};
static const enum sm_op op_splice_in[2] = {SM_OP_SPLICE_IN0, SM_OP_SPLICE_IN1};
static const enum sm_op op_splice_out[2] = {SM_OP_SPLICE_OUT0, SM_OP_SPLICE_OUT1};
static const enum sm_op op_poll_out[2] = {SM_OP_POLL_OUT0, SM_OP_POLL_OUT1};
static const enum sm_op op_shutdown[2] = {SM_OP_SHUTDOWN0, SM_OP_SHUTDOWN1};
static const enum sm_op op_recv[2] = {SM_OP_TRECV0, SM_OP_TRECV1};
static const enum sm_op op_send[2] = {SM_OP_TSEND0, SM_OP_TSEND1};

/* dir 0 reads the client and writes the upstream, dir 1 the reverse */
static int src_fd(const struct sm_flow *f, int d)
{
	return f->fd[d == 0 ? SM_SIDE_CLIENT : SM_SIDE_UPSTREAM];
}

static int dst_fd(const struct sm_flow *f, int d)
{
	return f->fd[d == 0 ? SM_SIDE_UPSTREAM : SM_SIDE_CLIENT];
}

static bool pipe_take(struct sm_reactor *r, struct sm_tunnel_dir *dir)
{
	if (dir->pipe_r >= 0)
		return true;
	if (r->n_pipes > 0) {
		r->n_pipes--;
		dir->pipe_r = r->pipes[r->n_pipes][0];
		dir->pipe_w = r->pipes[r->n_pipes][1];
		return true;
	}
	int p[2];
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
		return false;
	/* a bigger pipe moves more per splice: fewer ring round trips per GiB
	 * (pages are only allocated while bytes sit in it) */
	fcntl(p[1], F_SETPIPE_SZ, SM_PIPE_SIZE);
	dir->pipe_r = p[0];
	dir->pipe_w = p[1];
	return true;
}

/* An empty pipe goes back to the pool; one still holding bytes is closed. */
static void pipe_give(struct sm_reactor *r, struct sm_tunnel_dir *dir)
{
	if (dir->pipe_r < 0)
		return;
	if (dir->in_pipe == 0 && r->n_pipes < r->pipes_cap) {
		r->pipes[r->n_pipes][0] = dir->pipe_r;
		r->pipes[r->n_pipes][1] = dir->pipe_w;
		r->n_pipes++;
	} else {
		close(dir->pipe_r);
		close(dir->pipe_w);
	}
	dir->pipe_r = dir->pipe_w = -1;
	dir->in_pipe = 0;
}

static void arm_poll_in(struct sm_reactor *r, struct sm_flow *f, int d)
{
	r->io->poll(r, src_fd(f, d), POLLIN | POLLRDHUP, sm_flow_op(r, f, op_poll_in[d]));
	f->dir[d].state = SM_DIR_POLL_IN;
}

static void arm_splice_in(struct sm_reactor *r, struct sm_flow *f, int d)
{
	struct sm_tunnel_dir *dir = &f->dir[d];
	if (!pipe_take(r, dir)) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	r->io->splice(r, src_fd(f, d), dir->pipe_w, SM_PIPE_SIZE,
	              sm_flow_op(r, f, op_splice_in[d]));
	dir->state = SM_DIR_SPLICE_IN;
}

static void arm_splice_out(struct sm_reactor *r, struct sm_flow *f, int d)
{
	struct sm_tunnel_dir *dir = &f->dir[d];
	r->io->splice(r, dir->pipe_r, dst_fd(f, d), dir->in_pipe,
	              sm_flow_op(r, f, op_splice_out[d]));
	dir->state = SM_DIR_SPLICE_OUT;
}

static void arm_poll_out(struct sm_reactor *r, struct sm_flow *f, int d)
{
	r->io->poll(r, dst_fd(f, d), POLLOUT, sm_flow_op(r, f, op_poll_out[d]));
	f->dir[d].state = SM_DIR_POLL_OUT;
}

static void arm_shutdown(struct sm_reactor *r, struct sm_flow *f, int d)
{
	pipe_give(r, &f->dir[d]);
	r->io->shutdown(r, dst_fd(f, d), sm_flow_op(r, f, op_shutdown[d]));
	f->dir[d].state = SM_DIR_SHUT;
}

/* Copy mode: one provided buffer per received chunk, sent as it is. */
static void arm_recv(struct sm_reactor *r, struct sm_flow *f, int d)
{
	r->io->recv(r, src_fd(f, d), sm_flow_op(r, f, op_recv[d]));
	f->dir[d].state = SM_DIR_RECV;
}

static void arm_send(struct sm_reactor *r, struct sm_flow *f, int d)
{
	struct sm_tunnel_dir *dir = &f->dir[d];
	r->io->send(r, dst_fd(f, d), sm_br_buf(r, dir->bid) + dir->buf_off,
	            dir->buf_len - dir->buf_off, sm_flow_op(r, f, op_send[d]));
	dir->state = SM_DIR_SEND;
}

/* Next read on direction d. Reads that fill a whole buffer, several in a
 * row, mean a bulk stream: splice it. Splices that move less than a buffer,
 * several in a row, mean small messages again: copy them. */
static void arm_next(struct sm_reactor *r, struct sm_flow *f, int d)
{
	if (f->dir[d].splicing)
		arm_poll_in(r, f, d);
	else
		arm_recv(r, f, d);
}

static void observe_read(struct sm_flow *f, int d, int res)
{
	struct sm_tunnel_dir *dir = &f->dir[d];
	bool big = res >= SM_BR_SIZE;
	if (big == dir->splicing) {
		dir->streak = 0;
		return;
	}
	if (++dir->streak >= SM_MODE_STREAK) {
		dir->splicing = big;
		dir->streak = 0;
	}
}

static void count(struct sm_reactor *r, struct sm_flow *f, int d, uint32_t n)
{
	struct sm_tunnel_dir *dir = &f->dir[d];
	dir->moved = dir->moved + n > SM_SPLICE_AFTER ? SM_SPLICE_AFTER : dir->moved + n;
	if (d == 0) {
		f->bytes_up += n;
		SM_CTR_ADD(r, bytes[SM_LANE_TUNNEL][SM_BYTES_UP], n);
	} else {
		f->bytes_down += n;
		SM_CTR_ADD(r, bytes[SM_LANE_TUNNEL][SM_BYTES_DOWN], n);
	}
	sm_flow_touch(r, f);
}

void sm_tunnel_start(struct sm_reactor *r, struct sm_flow *f)
{
	/* the layer stack goes back to its pool at the end of dispatch: the
	 * layer that called this is still running */
	f->state = SM_FLOW_TUNNEL;
	sm_flow_queue(r, f);
	for (int d = 0; d < 2; d++) {
		f->dir[d].pipe_r = f->dir[d].pipe_w = -1;
		f->dir[d].in_pipe = 0;
		f->dir[d].moved = 0;
		f->dir[d].splicing = false;
		f->dir[d].streak = 0;
		arm_next(r, f, d);
	}
}

void sm_tunnel_release(struct sm_reactor *r, struct sm_flow *f)
{
	for (int d = 0; d < 2; d++) {
		pipe_give(r, &f->dir[d]);
		if (f->dir[d].state == SM_DIR_SEND) /* nothing in flight any more */
			sm_br_recycle(r, f->dir[d].bid);
		f->dir[d].state = SM_DIR_IDLE;
	}
}

/* A syscall error on direction d: whose side failed decides the reason. */
static void dir_error(struct sm_reactor *r, struct sm_flow *f, int d, bool on_source, int err)
{
	bool client_side = (d == 0) == on_source;
	f->reset = sm_flow_is_reset(err);
	sm_flow_close(r, f, client_side ? SM_CLOSE_CLIENT_RESET : SM_CLOSE_UPSTREAM_RESET);
}

static void maybe_done(struct sm_reactor *r, struct sm_flow *f)
{
	if (f->dir[0].state == SM_DIR_DONE && f->dir[1].state == SM_DIR_DONE)
		sm_flow_close(r, f, SM_CLOSE_DONE);
}

void sm_tunnel_cqe(struct sm_reactor *r, struct sm_flow *f, enum sm_op op, int res, unsigned flags)
{
	int d;
	if (f->state != SM_FLOW_TUNNEL) {
		/* closing: the completion only settles inflight */
		if (flags & IORING_CQE_F_BUFFER)
			sm_br_recycle(r, flags >> IORING_CQE_BUFFER_SHIFT);
		return;
	}
	switch (op) {
	case SM_OP_TRECV0:
	case SM_OP_TRECV1:
		d = op == SM_OP_TRECV1;
		if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
			struct sm_tunnel_dir *dir = &f->dir[d];
			dir->bid = (uint16_t)(flags >> IORING_CQE_BUFFER_SHIFT);
			dir->buf_off = 0;
			dir->buf_len = (uint32_t)res;
			count(r, f, d, (uint32_t)res);
			observe_read(f, d, res);
			arm_send(r, f, d);
		} else if (res == -ENOBUFS) {
			SM_CTR_INC(r, enobufs);
			arm_recv(r, f, d);
		} else if (res == 0) {
			arm_shutdown(r, f, d);
		} else {
			dir_error(r, f, d, true, res < 0 ? -res : EIO);
		}
		return;
	case SM_OP_TSEND0:
	case SM_OP_TSEND1: {
		d = op == SM_OP_TSEND1;
		struct sm_tunnel_dir *dir = &f->dir[d];
		if (res <= 0) {
			sm_br_recycle(r, dir->bid);
			dir->state = SM_DIR_IDLE;
			dir_error(r, f, d, false, res == 0 ? EPIPE : -res);
			return;
		}
		dir->buf_off += (uint32_t)res;
		if (dir->buf_off < dir->buf_len) {
			arm_send(r, f, d);
			return;
		}
		sm_br_recycle(r, dir->bid);
		arm_next(r, f, d);
		return;
	}
	case SM_OP_POLL_IN0:
	case SM_OP_POLL_IN1:
		d = op == SM_OP_POLL_IN1;
		if (res < 0) {
			dir_error(r, f, d, true, -res);
			return;
		}
		arm_splice_in(r, f, d);
		return;
	case SM_OP_SPLICE_IN0:
	case SM_OP_SPLICE_IN1:
		d = op == SM_OP_SPLICE_IN1;
		if (res == -EAGAIN || res == -EINTR) {
			arm_poll_in(r, f, d);
		} else if (res < 0) {
			dir_error(r, f, d, true, -res);
		} else if (res == 0) {
			arm_shutdown(r, f, d);
		} else {
			f->dir[d].in_pipe += (uint32_t)res;
			count(r, f, d, (uint32_t)res);
			observe_read(f, d, res);
			arm_splice_out(r, f, d);
		}
		return;
	case SM_OP_SPLICE_OUT0:
	case SM_OP_SPLICE_OUT1:
		d = op == SM_OP_SPLICE_OUT1;
		if (res == -EAGAIN || res == -EINTR) {
			SM_CTR_INC(r, backpressure_stalls);
			arm_poll_out(r, f, d);
		} else if (res <= 0) {
			dir_error(r, f, d, false, res == 0 ? EPIPE : -res);
		} else {
			f->dir[d].in_pipe -= (uint32_t)res;
			if (f->dir[d].in_pipe > 0) {
				arm_splice_out(r, f, d);
			} else {
				pipe_give(r, &f->dir[d]);
				arm_next(r, f, d);
			}
		}
		return;
	case SM_OP_POLL_OUT0:
	case SM_OP_POLL_OUT1:
		d = op == SM_OP_POLL_OUT1;
		if (res < 0) {
			dir_error(r, f, d, false, -res);
			return;
		}
		arm_splice_out(r, f, d);
		return;
	case SM_OP_SHUTDOWN0:
	case SM_OP_SHUTDOWN1:
		d = op == SM_OP_SHUTDOWN1;
		/* ENOTCONN: the peer is already gone; the other direction reports it. */
		f->dir[d].state = SM_DIR_DONE;
		maybe_done(r, f);
		return;
	default: return;
	}
}
