/* The transport side of TLS interception: ciphertext receives fed to each
 * session, sends of what the sessions wrote (from a registered send chunk
 * held only while there is something to send), decryption into the HTTP
 * relay's input queues and encryption of its output queues with dynamic
 * record sizing. The stages (peek, handshakes, relay start) are core/mitm.c. */
#include "core/mitm.h"

#include <errno.h>

#include "core/front.h"
#include "base/result.h"

/* While relaying, a session holds its ciphertext chunk only while it has
 * something to send: idle intercepted connections hold no registered send
 * memory, so their number is bounded by memory, not by the chunk count. */
bool sm_mitm_out_hold(struct sm_reactor *r, struct sm_flow *f, bool client)
{
	struct sm_mitm *m = f->front->mitm;
	int32_t *c = client ? &m->cchunk : &m->uchunk;
	if (*c >= 0)
		return true;
	if ((*c = sm_chunk_get(r)) < 0) {
		SM_CTR_INC(r, send_chunks_exhausted);
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return false;
	}
	sm_tls_set_out(client ? &m->ctls : &m->utls, sm_chunk_ptr(r, *c), SM_CHUNK_SIZE);
	return true;
}

static void out_release(struct sm_reactor *r, struct sm_mitm *m, bool client)
{
	int32_t *c = client ? &m->cchunk : &m->uchunk;
	struct sm_tls *t = client ? &m->ctls : &m->utls;
	const uint8_t *p;
	if (*c < 0 || m->stage != SM_MITM_RELAY || m->close_after_send ||
	    (client ? m->csend : m->usend) || sm_tls_out(t, &p) > 0)
		return;
	sm_tls_set_out(t, NULL, 0);
	sm_chunk_put(r, *c);
	*c = -1;
}

void sm_mitm_send_tls(struct sm_reactor *r, struct sm_flow *f, bool client)
{
	struct sm_mitm *m = f->front->mitm;
	struct sm_tls *t = client ? &m->ctls : &m->utls;
	bool *sending = client ? &m->csend : &m->usend;
	const uint8_t *p;
	size_t n = sm_tls_out(t, &p);
	if (*sending || n == 0)
		return;
	struct io_uring_sqe *sqe = sm_sqe(r);
	io_uring_prep_write_fixed(sqe, client ? f->cfd : f->ufd, p, (unsigned)n, 0, 0);
	sm_flow_prep(r, f, sqe, client ? SM_OP_CLIENT_SEND : SM_OP_UP_SEND);
	*sending = true;
}

void sm_mitm_arm(struct sm_reactor *r, struct sm_flow *f, bool client)
{
	struct sm_front *fr = f->front;
	struct sm_mitm *m = fr->mitm;
	struct sm_tls *t = client ? &m->ctls : &m->utls;
	bool armed = client ? f->client_recv_armed : fr->up_recv_armed;
	if (armed || sm_tls_in_space(t) < SM_BR_SIZE)
		return;
	if (client && fr->client_eof)
		return;
	if (!client && (fr->upstream_eof || f->ufd < 0))
		return;
	if (m->stage == SM_MITM_RELAY)
		sm_tls_in_release(t); /* waiting: an idle session holds no input buffer */
	sm_front_arm_recv(r, f, client);
}

void sm_mitm_client_recv(struct sm_reactor *r, struct sm_flow *f, const uint8_t *data, int res)
{
	struct sm_front *fr = f->front;
	struct sm_mitm *m = fr->mitm;
	if (res == -ENOBUFS) {
		SM_CTR_INC(r, enobufs);
		sm_mitm_arm(r, f, true);
		return;
	}
	bool hs = m->stage != SM_MITM_RELAY;
	if (res < 0) {
		f->reset = res == -ECONNRESET;
		if (hs)
			sm_mitm_transport_failed(r, f, true, SM_TLS_RESET);
		else
			sm_flow_close(r, f, SM_CLOSE_CLIENT_RESET);
		return;
	}
	sm_flow_touch(r, f);
	if (res == 0) {
		sm_tls_feed_eof(&m->ctls);
		fr->client_eof = true;
		if (m->stage == SM_MITM_PEEK || m->stage == SM_MITM_UP_HS) {
			sm_mitm_transport_failed(r, f, true, SM_TLS_EOF);
			return;
		}
		if (m->stage == SM_MITM_CL_HS) {
			sm_mitm_drive_client(r, f);
			return;
		}
		sm_front_pump_client(r, f);
		return;
	}
	f->bytes_up += (uint64_t)res;
	SM_CTR_ADD(r, bytes[SM_LANE_MITM][SM_BYTES_UP], (uint64_t)res);
	size_t n = sm_tls_feed(&m->ctls, data, (size_t)res); /* armed only with room */
	switch (m->stage) {
	case SM_MITM_PEEK: sm_mitm_peek(r, f, data, n); return;
	case SM_MITM_CL_HS: sm_mitm_drive_client(r, f); return;
	case SM_MITM_RELAY: sm_front_pump_client(r, f); return;
	default: return;
	}
}

void sm_mitm_upstream_recv(struct sm_reactor *r, struct sm_flow *f, const uint8_t *data, int res)
{
	struct sm_front *fr = f->front;
	struct sm_mitm *m = fr->mitm;
	if (res == -ENOBUFS) {
		SM_CTR_INC(r, enobufs);
		sm_mitm_arm(r, f, false);
		return;
	}
	bool hs = m->stage == SM_MITM_UP_HS;
	if (res < 0) {
		if (hs) {
			sm_mitm_transport_failed(r, f, false, SM_TLS_RESET);
			return;
		}
		f->reset = res == -ECONNRESET;
		sm_flow_close(r, f, SM_CLOSE_UPSTREAM_RESET);
		return;
	}
	sm_flow_touch(r, f);
	if (res == 0) {
		sm_tls_feed_eof(&m->utls);
		if (hs) {
			sm_mitm_drive_upstream(r, f);
			return;
		}
		fr->upstream_eof = true;
		if (m->stage == SM_MITM_RELAY)
			sm_front_pump_upstream(r, f);
		return;
	}
	f->bytes_down += (uint64_t)res;
	SM_CTR_ADD(r, bytes[SM_LANE_MITM][SM_BYTES_DOWN], (uint64_t)res);
	sm_tls_feed(&m->utls, data, (size_t)res);
	if (hs)
		sm_mitm_drive_upstream(r, f);
	else if (m->stage == SM_MITM_RELAY)
		sm_front_pump_upstream(r, f);
}

/* Dynamic record sizing toward the client: after an idle second, records
 * fit one TCP segment (1369 bytes of payload, so a browser can start on the
 * first bytes without waiting for a 16 KiB record to arrive whole), then
 * 16 KiB records once the burst is past 16 KiB. */
static size_t record_size(struct sm_mitm *m)
{
	uint64_t now = sm_now_ns();
	if (now - m->last_write_ns > SM_RECORD_IDLE_NS)
		m->burst_bytes = 0;
	m->last_write_ns = now;
	return m->burst_bytes < SM_RECORD_RAMP_BYTES ? SM_RECORD_SMALL : SM_TLS_RECORD;
}

void sm_mitm_flush(struct sm_reactor *r, struct sm_flow *f, bool to_client)
{
	struct sm_front *fr = f->front;
	struct sm_mitm *m = fr->mitm;
	struct sm_outq *q = to_client ? &fr->down : &fr->up;
	struct sm_tls *t = to_client ? &m->ctls : &m->utls;
	if (q->sent < q->out.len && !sm_mitm_out_hold(r, f, to_client))
		return;
	while (q->sent < q->out.len) {
		size_t max = to_client ? record_size(m) : 0;
		size_t n;
		int rc = sm_tls_write(t, q->out.buf + q->sent, q->out.len - q->sent, max, &n);
		if (rc == SM_AGAIN)
			break;
		if (rc < 0) {
			sm_flow_close(r, f,
			              to_client ? SM_CLOSE_CLIENT_RESET : SM_CLOSE_UPSTREAM_RESET);
			return;
		}
		q->sent += (uint32_t)n;
		if (to_client)
			m->burst_bytes += (uint64_t)n;
	}
	sm_mitm_send_tls(r, f, to_client);
	out_release(r, m, to_client);
}

bool sm_mitm_send_cqe(struct sm_reactor *r, struct sm_flow *f, bool to_client, int res)
{
	struct sm_front *fr = f->front;
	struct sm_mitm *m = fr->mitm;
	struct sm_tls *t = to_client ? &m->ctls : &m->utls;
	*(to_client ? &m->csend : &m->usend) = false;
	if (res < 0) {
		f->reset = res == -ECONNRESET || res == -EPIPE;
		if (m->stage != SM_MITM_RELAY)
			sm_mitm_transport_failed(r, f, to_client, SM_TLS_RESET);
		else
			sm_flow_close(r, f,
			              to_client ? SM_CLOSE_CLIENT_RESET : SM_CLOSE_UPSTREAM_RESET);
		return false;
	}
	sm_tls_out_done(t, (size_t)res);
	const uint8_t *p;
	if (m->close_after_send) {
		if (sm_tls_out(t, &p) > 0)
			sm_mitm_send_tls(r, f, to_client);
		else
			sm_flow_close(r, f, m->close_reason);
		return false;
	}
	switch (m->stage) {
	case SM_MITM_UP_HS:
		if (!to_client)
			sm_mitm_drive_upstream(r, f);
		return false;
	case SM_MITM_CL_HS:
		if (to_client) {
			m->cflight_sent = true;
			sm_mitm_drive_client(r, f);
		}
		return false;
	case SM_MITM_RELAY: {
		struct sm_outq *q = to_client ? &fr->down : &fr->up;
		if (!q->inflight) { /* handshake tail or close_notify */
			sm_mitm_send_tls(r, f, to_client);
			out_release(r, m, to_client);
			return false;
		}
		sm_mitm_flush(r, f, to_client);
		if (f->state == SM_FLOW_CLOSING)
			return false;
		return q->sent >= q->out.len && sm_tls_out(t, &p) == 0;
	}
	default: return false;
	}
}

bool sm_mitm_pull(struct sm_reactor *r, struct sm_flow *f, bool client)
{
	struct sm_front *fr = f->front;
	struct sm_mitm *m = fr->mitm;
	struct sm_inq *q = client ? &fr->cin : &fr->uin;
	struct sm_tls *t = client ? &m->ctls : &m->utls;
	if (m->stage != SM_MITM_RELAY || !sm_tls_readable(t))
		return true;                 /* nothing to decrypt: take no buffers */
	if (!sm_mitm_out_hold(r, f, client)) /* reading may answer key updates or alerts */
		return false;
	if (!sm_inq_hold(q)) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return false;
	}
	while (q->off + q->len < q->cap) {
		size_t n;
		int rc = sm_tls_read(t, q->buf + q->off + q->len, q->cap - q->off - q->len, &n);
		if (rc == SM_AGAIN)
			break;
		if (rc == SM_OK && n == 0) { /* close_notify or EOF */
			if (client)
				fr->client_eof = true;
			else if (!fr->upstream_eof)
				fr->upstream_eof = fr->eof_pending = true;
			break;
		}
		if (rc < 0) {
			sm_flow_close(r, f,
			              client ? SM_CLOSE_CLIENT_RESET : SM_CLOSE_UPSTREAM_RESET);
			return false;
		}
		q->len += (uint32_t)n;
	}
	/* wolfSSL may answer key updates or alerts while reading */
	sm_mitm_send_tls(r, f, client);
	out_release(r, m, client);
	return true;
}
