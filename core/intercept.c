/* TLS interception: the handshake layer and the choice of the application
 * layer after it (core/intercept.h). */
#include "core/intercept.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/addr.h"
#include "base/result.h"
#include "core/h2xlate.h"
#include "core/policy.h"
#include "core/reactor.h"
#include "core/reply.h"
#include "core/stack.h"
#include "core/tls_rt.h"
#include "core/xprt_tls.h"
#include "proto/authority.h"
#include "proto/clienthello.h"
#include "telemetry/event.h"
#include "tls/forge.h"

#define CH_MAX SM_CLIENTHELLO_MAX_DEFAULT

/* Stages of the handshake layer. */
enum stage {
	PEEK = 0, /* collecting the ClientHello */
	UP_HS,    /* handshake with the upstream */
	CL_HS,    /* handshake with the client */
};

/* The handshake layer's context. */
struct intercept {
	uint8_t stage;  /* enum stage */
	bool up_failed; /* upstream handshake failed: answer 502 over TLS */
	bool insecure;  /* upstream certificate not verified (tls.insecure_hosts) */
	bool up_sni;    /* the upstream got SNI (name; none for an IP literal) */
	bool failed;    /* the client's handshake failed (reported): its alert goes out,
	                   then the flow closes; nothing else is reported */
	int up_reason;
	uint32_t peeked; /* bytes of the client's TLS input the ClientHello parser saw */
	uint64_t t_start_ns, hs_deadline_ns;
	struct sm_clienthello ch;
	uint8_t *ch_scratch;
	char name[256]; /* SNI, else the CONNECT host: the leaf's name and the verified name */
};

static struct intercept *M(const struct sm_flow *f)
{
	return f->st->top.ctx;
}

static struct sm_conn *side_conn(struct sm_flow *f, int side)
{
	return &f->st->conn[side];
}

static struct sm_tls *session(struct sm_flow *f, int side)
{
	return sm_xprt_tls_session(side_conn(f, side));
}

/* The authority kind of a host as the front end normalised it (an IPv6
 * literal without brackets). */
static uint8_t host_kind(const char *s)
{
	struct in6_addr a;
	if (inet_pton(AF_INET, s, &a) == 1)
		return SM_AUTHORITY_IPV4;
	return inet_pton(AF_INET6, s, &a) == 1 ? SM_AUTHORITY_IPV6 : SM_AUTHORITY_NAME;
}

/* ---- events -------------------------------------------------------------------- */

/* One tls_handshake_failed: the reason, how it was known and the guess it
 * carries come from tls/taxonomy (sm_tls_attribute()), never from here. */
static void hs_failed_event(struct sm_reactor *r, struct sm_flow *f, int side, int reason,
                            int alert, int err)
{
	const struct sm_front *fe = &f->st->fe;
	const struct intercept *m = M(f);
	/* only the client side can have had our certificate */
	bool delivered = side == SM_TLS_SIDE_CLIENT &&
	                 sm_tls_certificate_delivered(session(f, SM_SIDE_CLIENT));
	enum sm_tls_inference inference;
	enum sm_tls_source source = sm_tls_attribute(reason, delivered, &inference);
	sm_metrics_tls_failed(r->m, side, reason);
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_TLS_HANDSHAKE_FAILED);
	if (!ev)
		return;
	ev->i[0] = side;
	ev->i[1] = reason;
	ev->i[2] = alert;
	ev->i[3] = err;
	ev->i[4] = source;
	ev->i[5] = inference;
	char buf[SM_ADDR_MAX];
	size_t n = sm_addr_format((const struct sockaddr *)&fe->peer, buf, sizeof(buf));
	sm_event_set_str(ev, 0, buf, n);
	n = sm_addr_format_host(fe->host, fe->port, buf, sizeof(buf));
	sm_event_set_str(ev, 1, buf, n);
	sm_event_set_str(ev, 2, m->ch.sni, m->ch.sni_len);
	sm_flow_event_commit(r);
}

/* sni: the SNI on the wire, the client's or the one we sent upstream (none
 * for an IP literal). */
static void ok_event(struct sm_reactor *r, struct sm_flow *f, int side, struct sm_tls *t)
{
	const struct intercept *m = M(f);
	const char *sni = side == SM_TLS_SIDE_CLIENT ? m->ch.sni : m->up_sni ? m->name : "";
	sm_metrics_tls_ok(r->m, side);
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_TLS_HANDSHAKE_OK);
	if (!ev)
		return;
	ev->i[0] = side;
	ev->i[1] = wolfSSL_version(t->ssl);
	ev->i[2] = (int64_t)((sm_now_ns() - m->t_start_ns) / 1000);
	const char *c = sm_tls_cipher(t), *a;
	size_t alen;
	sm_tls_alpn(t, &a, &alen);
	sm_event_set_str(ev, 0, c, strlen(c));
	sm_event_set_str(ev, 1, a, alen);
	sm_event_set_str(ev, 2, sni, strlen(sni));
	sm_flow_event_commit(r);
}

static void client_hello_event(struct sm_reactor *r, struct sm_flow *f)
{
	const struct intercept *m = M(f);
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_TLS_CLIENT_HELLO);
	if (!ev)
		return;
	ev->i[0] = m->ch.max_version;
	ev->i[1] = m->ch.legacy_version;
	char buf[SM_EVENT_STR_MAX + 8];
	size_t n = 0;
	for (unsigned i = 0; i < m->ch.alpn_count; i++) {
		size_t len;
		const uint8_t *a = sm_clienthello_alpn(&m->ch, i, &len);
		if (n + len + 1 >= sizeof(buf))
			break;
		if (n)
			buf[n++] = ',';
		memcpy(buf + n, a, len);
		n += len;
	}
	sm_event_set_str(ev, 0, m->ch.sni, m->ch.sni_len);
	sm_event_set_str(ev, 1, buf, n);
	n = 0;
	for (unsigned i = 0; i < m->ch.version_count && n + 8 < sizeof(buf); i++) {
		int k = snprintf(buf + n, sizeof(buf) - n, "%s0x%04x", n ? "," : "",
		                 m->ch.versions[i]);
		n += k > 0 ? (size_t)k : 0;
	}
	sm_event_set_str(ev, 2, buf, n);
	sm_flow_event_commit(r);
}

/* ---- after the handshakes ------------------------------------------------------------ */

/* Both handshakes are done (or the upstream's failed): the application
 * layer the ALPN outcomes call for goes on top of the TLS transports. */
static void app_select(struct sm_reactor *r, struct sm_flow *f)
{
	struct intercept *m = M(f);
	struct sm_front *fe = &f->st->fe;
	free(m->ch_scratch); /* the ClientHello is decided on; its SNI is in fe */
	m->ch_scratch = NULL;
	m->ch.scratch = NULL;
	snprintf(fe->live_host, sizeof(fe->live_host), "%s", m->name);
	fe->live_port = fe->port;
	sm_xprt_tls_relay(r, side_conn(f, SM_SIDE_CLIENT));
	if (m->up_failed) {
		char hp[SM_ADDR_MAX], detail[400];
		sm_addr_format_host(fe->host, fe->port, hp, sizeof(hp));
		snprintf(detail, sizeof(detail), "TLS handshake with %s failed: %s%s", hp,
		         sm_tls_reason_name(m->up_reason),
		         m->insecure ? " (verification off)" : "");
		sm_reply_error(r, f, 502, "upstream TLS failed", detail,
		               SM_CLOSE_TLS_SERVER_FAILED);
		return;
	}
	sm_xprt_tls_relay(r, side_conn(f, SM_SIDE_UPSTREAM));
	struct sm_authority auth = {0};
	size_t hl = strlen(fe->host);
	memcpy(auth.host, fe->host, hl + 1);
	auth.host_len = (uint16_t)hl;
	auth.port = fe->port;
	auth.kind = host_kind(fe->host);
	const char *a;
	size_t alen;
	sm_tls_alpn(session(f, SM_SIDE_CLIENT), &a, &alen);
	bool client_h2 = alen == 2 && memcmp(a, "h2", 2) == 0;
	sm_tls_alpn(session(f, SM_SIDE_UPSTREAM), &a, &alen);
	bool up_h2 = alen == 2 && memcmp(a, "h2", 2) == 0;
	const struct sm_app_ops *app = &sm_app_http1_origin;
	if (client_h2 && up_h2) {
		app = &sm_app_h2;
	} else if (client_h2) { /* translated to HTTP/1.1 (proto/h2h1) */
		app = &sm_app_h2h1;
		SM_CTR_INC(r, h2_xlate_h2h1);
	} else if (up_h2) { /* HTTP/1.1 client, h2 upstream: translated (proto/h1h2) */
		app = &sm_app_h1h2;
		SM_CTR_INC(r, h2_xlate_h1h2);
	}
	sm_stack_install(r, f, app, &auth);
}

/* ---- stages --------------------------------------------------------------------- */

static void client_handshake(struct sm_reactor *r, struct sm_flow *f);

static bool insecure_host(const struct sm_config *cfg, const char *host)
{
	const char *list = cfg->tls.insecure_hosts;
	while (list && *list) {
		const char *end = strchr(list, ',');
		size_t n = end ? (size_t)(end - list) : strlen(list);
		char pat[256];
		if (n && n < sizeof(pat)) {
			memcpy(pat, list, n);
			pat[n] = 0;
			if (sm_policy_host_match(pat, host, strlen(host)))
				return true;
		}
		list = end ? end + 1 : NULL;
	}
	return false;
}

/* A transport failure (reset, EOF, timeout) of side during a handshake:
 * the upstream's lets the client still get a 502 over TLS. */
static void transport_failed(struct sm_reactor *r, struct sm_flow *f, int side, int reason)
{
	struct intercept *m = M(f);
	if (side == SM_SIDE_UPSTREAM && m->stage == UP_HS) {
		m->up_failed = true;
		m->up_reason = reason;
		hs_failed_event(r, f, SM_TLS_SIDE_SERVER, reason, -1, 0);
		client_handshake(r, f);
		return;
	}
	bool client = side == SM_SIDE_CLIENT;
	hs_failed_event(r, f, client ? SM_TLS_SIDE_CLIENT : SM_TLS_SIDE_SERVER, reason, -1, 0);
	sm_flow_close(r, f, client ? SM_CLOSE_TLS_CLIENT_FAILED : SM_CLOSE_TLS_SERVER_FAILED);
}

static void drive_upstream(struct sm_reactor *r, struct sm_flow *f)
{
	struct intercept *m = M(f);
	struct sm_conn *uc = side_conn(f, SM_SIDE_UPSTREAM);
	struct sm_tls *t = session(f, SM_SIDE_UPSTREAM);
	int rc = sm_tls_handshake(t);
	sm_xprt_tls_send(r, f, uc);
	if (rc == SM_AGAIN) {
		uc->xprt->arm(r, f, uc);
		return;
	}
	if (rc == SM_OK) {
		ok_event(r, f, SM_TLS_SIDE_SERVER, t);
	} else {
		int alert;
		m->up_reason = sm_tls_reason(t, &alert);
		m->up_failed = true;
		hs_failed_event(r, f, SM_TLS_SIDE_SERVER, m->up_reason, alert, t->err);
	}
	client_handshake(r, f);
}

/* The upstream side: SNI, verification of the name, ALPN from the client's
 * offer: h2 and http/1.1 (see core/h2xlate.h). An IP literal goes out
 * without SNI (RFC 6066 3) and must be an iPAddress of the certificate. */
static void start_upstream(struct sm_reactor *r, struct sm_flow *f)
{
	struct intercept *m = M(f);
	const struct sm_front *fe = &f->st->fe;
	m->insecure =
	        insecure_host(sm_flow_cfg(f), fe->host) || insecure_host(sm_flow_cfg(f), m->name);
	if (!sm_xprt_tls_open(r, f, side_conn(f, SM_SIDE_UPSTREAM),
	                      m->insecure ? r->tls->cli_insecure : r->tls->cli, false)) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	struct sm_tls *t = session(f, SM_SIDE_UPSTREAM);
	uint8_t ip[16];
	size_t ip_len = 0;
	bool is_ip = sm_forge_parse_ip(m->name, strlen(m->name), ip, &ip_len);
	WOLFSSL *ssl = t->ssl;
	m->up_sni = !is_ip && wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, m->name,
	                                     (unsigned short)strlen(m->name)) == WOLFSSL_SUCCESS;
	if (!m->insecure && is_ip)
		sm_tls_verify_ip(t, ip, ip_len);
	else if (!m->insecure)
		wolfSSL_check_domain_name(ssl, m->name);
	/* h2 (when the client offers it and the http2 switch is on, or for
	 * every client with http2_upstream_for_h1_clients) and http/1.1: the
	 * side that lacks h2 is translated (core/h2xlate.h) */
	const char *alpn = sm_h2xlate_upstream_alpn(&m->ch, sm_flow_cfg(f)->http2,
	                                            sm_flow_cfg(f)->http2_upstream_for_h1_clients);
	if (alpn) {
		char list[16];
		snprintf(list, sizeof(list), "%s", alpn);
		wolfSSL_UseALPN(ssl, list, (unsigned)strlen(list), WOLFSSL_ALPN_FAILED_ON_MISMATCH);
	}
	m->stage = UP_HS;
	drive_upstream(r, f);
}

/* Gives up interception: the bytes seen so far go upstream first (the
 * client side is plain again), then the splice tunnel takes over. */
static void tunnel_peeked(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_conn *c = side_conn(f, SM_SIDE_CLIENT);
	const struct sm_tls *t = session(f, SM_SIDE_CLIENT);
	uint32_t n = t->in_len < c->in.cap ? t->in_len : c->in.cap;
	if (n && !sm_inq_hold(&c->in)) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	if (n)
		memcpy(c->in.buf, t->in + t->in_off, n);
	c->in.off = 0;
	c->in.len = n;
	c->xprt->free(r, c);
	c->xprt = &sm_xprt_plain;
	c->x = NULL;
	f->st->fe.intercept = false;
	sm_stack_install(r, f, &sm_app_establish, NULL);
}

/* The client did not start TLS: tunnel its bytes untouched or close. */
static void not_tls(struct sm_reactor *r, struct sm_flow *f)
{
	const struct sm_tls *t = session(f, SM_SIDE_CLIENT);
	int action =
	        sm_flow_cfg(f)->tls.non_tls == SM_ACTION_BLOCK ? SM_ACTION_BLOCK : SM_ACTION_TUNNEL;
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_TLS_NOT_TLS);
	if (ev) {
		static const char hex[] = "0123456789abcdef";
		char buf[32];
		size_t n = 0;
		for (uint32_t i = 0; i < t->in_len && n + 2 <= 16; i++) {
			uint8_t b = t->in[t->in_off + i];
			buf[n++] = hex[b >> 4];
			buf[n++] = hex[b & 15];
		}
		ev->i[0] = action;
		sm_event_set_str(ev, 0, buf, n);
		sm_flow_event_commit(r);
	}
	if (action == SM_ACTION_BLOCK) {
		sm_flow_close(r, f, SM_CLOSE_NOT_TLS);
		return;
	}
	tunnel_peeked(r, f);
}

/* Rules on the SNI decide now. Returns false when the flow no longer
 * intercepts (tunnelled, blocked, reset). */
static bool sni_decision(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fe = &f->st->fe;
	struct sm_policy_input in = {
	        .host = fe->host,
	        .host_len = strlen(fe->host),
	        .port = fe->port,
	        .client = (const struct sockaddr *)&fe->peer,
	        .dest = (const struct sockaddr *)&fe->addrs[fe->addr_idx],
	        .sni = fe->has_sni ? fe->sni : NULL,
	        .sni_len = fe->has_sni ? fe->sni_len : 0,
	        .roll = fe->roll,
	};
	struct sm_policy_decision d;
	sm_policy_decide_sni(sm_flow_cfg(f), &in, &d);
	fe->need_sni = false;
	sm_upstream_decision_event(r, f, &d);
	switch (d.action) {
	case SM_ACTION_TUNNEL: tunnel_peeked(r, f); return false;
	case SM_ACTION_BLOCK: sm_flow_close(r, f, SM_CLOSE_BLOCKED); return false;
	case SM_ACTION_FAULT:
		if (!d.fault || d.fault->reset) {
			f->reset = true;
			sm_flow_close(r, f, SM_CLOSE_FAULT);
			return false;
		}
		fe->conn_fault = d.fault; /* intercept, and answer every request with it */
		fe->conn_fault_rule = d.rule;
		return true;
	default: return true;
	}
}

/* New bytes of the client's TLS input go to the ClientHello parser. */
static void peek(struct sm_reactor *r, struct sm_flow *f)
{
	struct intercept *m = M(f);
	struct sm_front *fe = &f->st->fe;
	struct sm_conn *cc = side_conn(f, SM_SIDE_CLIENT);
	const struct sm_tls *t = session(f, SM_SIDE_CLIENT);
	int rc = SM_AGAIN;
	if (t->in_len > m->peeked) {
		rc = sm_clienthello_feed(&m->ch, t->in + t->in_off + m->peeked,
		                         t->in_len - m->peeked);
		m->peeked = t->in_len;
	}
	if (rc == SM_AGAIN) {
		if (cc->fin) {
			transport_failed(r, f, SM_SIDE_CLIENT, SM_TLS_EOF);
			return;
		}
		cc->xprt->arm(r, f, cc);
		return;
	}
	if (rc == SM_ERR_PROTOCOL && m->ch.reason == SM_CH_NOT_TLS) {
		not_tls(r, f);
		return;
	}
	/* a malformed hello is left to wolfSSL, which fails it with a reason */
	fe->has_sni = m->ch.has_sni;
	fe->sni_len = m->ch.has_sni ? m->ch.sni_len : 0;
	memcpy(fe->sni, m->ch.sni, fe->sni_len);
	fe->sni[fe->sni_len] = 0;
	client_hello_event(r, f);
	if (fe->need_sni && !sni_decision(r, f))
		return;
	if (m->ch.has_sni && m->ch.sni_len)
		memcpy(m->name, m->ch.sni, (size_t)m->ch.sni_len + 1);
	else
		snprintf(m->name, sizeof(m->name), "%s", fe->host);
	start_upstream(r, f);
}

static void drive_client(struct sm_reactor *r, struct sm_flow *f)
{
	struct intercept *m = M(f);
	struct sm_conn *cc = side_conn(f, SM_SIDE_CLIENT);
	struct sm_tls *t = session(f, SM_SIDE_CLIENT);
	int rc = sm_tls_handshake(t);
	sm_xprt_tls_send(r, f, cc);
	if (rc == SM_AGAIN) {
		cc->xprt->arm(r, f, cc);
		return;
	}
	if (rc == SM_OK) {
		ok_event(r, f, SM_TLS_SIDE_CLIENT, t);
		app_select(r, f);
		return;
	}
	int alert;
	int reason = sm_tls_reason(t, &alert);
	hs_failed_event(r, f, SM_TLS_SIDE_CLIENT, reason, alert, t->err);
	m->failed = true;
	sm_xprt_tls_close_after_send(r, f, cc, SM_CLOSE_TLS_CLIENT_FAILED);
}

/* The client side offers exactly what the upstream settled on. */
static void client_handshake(struct sm_reactor *r, struct sm_flow *f)
{
	struct intercept *m = M(f);
	WOLFSSL *ssl = session(f, SM_SIDE_CLIENT)->ssl;
	bool hit;
	uint64_t forge_us;
	if (!sm_tls_rt_leaf(r, ssl, m->name, &hit, &forge_us)) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_CERT_FORGED);
	if (ev) {
		ev->i[0] = (int64_t)forge_us;
		ev->i[1] = hit;
		sm_event_set_str(ev, 0, m->name, strlen(m->name));
		sm_flow_event_commit(r);
	}
	const char *a = "";
	size_t alen = 0;
	if (!m->up_failed)
		sm_tls_alpn(session(f, SM_SIDE_UPSTREAM), &a, &alen);
	static char h11[] = "http/1.1", h2[] = "h2";
	bool reverse = sm_h2xlate_reverse(&m->ch, m->up_failed, a, alen);
	if (reverse) { /* the client did not offer h2: it keeps HTTP/1.1 (or no ALPN) */
		if (m->ch.alpn_count)
			wolfSSL_UseALPN(ssl, h11, 8, WOLFSSL_ALPN_CONTINUE_ON_MISMATCH);
	} else if ((alen == 2 && memcmp(a, h2, 2) == 0) ||
	           sm_h2xlate_wanted(&m->ch, sm_flow_cfg(f)->http2, m->up_failed, a, alen))
		wolfSSL_UseALPN(ssl, h2, 2, WOLFSSL_ALPN_FAILED_ON_MISMATCH);
	else if (alen == 8 && memcmp(a, h11, 8) == 0)
		wolfSSL_UseALPN(ssl, h11, 8, WOLFSSL_ALPN_FAILED_ON_MISMATCH);
	else if (m->ch.alpn_count && m->up_failed)
		wolfSSL_UseALPN(ssl, h11, 8, WOLFSSL_ALPN_CONTINUE_ON_MISMATCH);
	m->stage = CL_HS;
	drive_client(r, f);
}

/* ---- the layer -------------------------------------------------------------------- */

static void start(struct sm_reactor *r, struct sm_flow *f, void *arg)
{
	(void)arg;
	struct intercept *m = calloc(1, sizeof(*m));
	if (m)
		m->ch_scratch = malloc(CH_MAX);
	if (!m || !m->ch_scratch || !r->tls ||
	    !sm_xprt_tls_open(r, f, side_conn(f, SM_SIDE_CLIENT), r->tls->srv, true)) {
		if (m)
			free(m->ch_scratch);
		free(m);
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	f->st->top.ctx = m;
	m->stage = PEEK;
	m->t_start_ns = sm_now_ns();
	m->hs_deadline_ns =
	        m->t_start_ns + (uint64_t)sm_flow_cfg(f)->tls.handshake_timeout_ms * 1000000ull;
	sm_flow_deadline(r, f, m->hs_deadline_ns);
	sm_clienthello_init(&m->ch, m->ch_scratch, CH_MAX);
	/* bytes the client sent right after its CONNECT head */
	struct sm_conn *cc = side_conn(f, SM_SIDE_CLIENT);
	if (cc->in.len) {
		if (!sm_tls_feed(session(f, SM_SIDE_CLIENT), cc->in.buf + cc->in.off, cc->in.len)) {
			sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
			return;
		}
		cc->in.len = cc->in.off = 0;
	}
	peek(r, f);
}

static void pump(struct sm_reactor *r, struct sm_flow *f, int side, int why)
{
	struct intercept *m = M(f);
	bool client = side == SM_SIDE_CLIENT;
	if (m->failed)
		return; /* the alert is on its way; the transport closes after it */
	switch (m->stage) {
	case PEEK:
		if (client && why == SM_PUMP_IN)
			peek(r, f);
		return;
	case UP_HS:
		if (!client)
			drive_upstream(r, f);
		else if (side_conn(f, SM_SIDE_CLIENT)->fin)
			transport_failed(r, f, SM_SIDE_CLIENT, SM_TLS_EOF);
		return;
	case CL_HS:
		if (!client)
			return; /* upstream bytes wait in its session for the relay */
		drive_client(r, f);
		return;
	default: return;
	}
}

/* The handshake deadline: the stage in progress fails with a timeout. */
static bool deadline(struct sm_reactor *r, struct sm_flow *f, uint64_t now)
{
	struct intercept *m = M(f);
	if (m->failed) { /* the alert could not go out in time */
		sm_flow_close(r, f, SM_CLOSE_TLS_CLIENT_FAILED);
		return true;
	}
	if (now < m->hs_deadline_ns) {
		sm_flow_deadline(r, f, m->hs_deadline_ns);
		return true;
	}
	transport_failed(r, f, m->stage == UP_HS ? SM_SIDE_UPSTREAM : SM_SIDE_CLIENT,
	                 SM_TLS_TIMEOUT);
	return true;
}

/* A reset during a handshake is a transport failure of that handshake; of
 * the upstream after its handshake, an upstream reset. */
static void failed(struct sm_reactor *r, struct sm_flow *f, int side, int err)
{
	struct intercept *m = M(f);
	(void)err;
	if (m->failed) { /* already reported: the alert is lost with the connection */
		sm_flow_close(r, f, SM_CLOSE_TLS_CLIENT_FAILED);
		return;
	}
	if (side == SM_SIDE_UPSTREAM && m->stage != UP_HS) {
		sm_flow_close(r, f, SM_CLOSE_UPSTREAM_RESET);
		return;
	}
	if (side == SM_SIDE_UPSTREAM)
		f->reset = false; /* the client still gets its 502, gracefully */
	transport_failed(r, f, side, SM_TLS_RESET);
}

static void free_(struct sm_reactor *r, struct sm_flow *f, void *ctx)
{
	struct intercept *m = ctx;
	(void)r, (void)f;
	if (!m)
		return;
	free(m->ch_scratch);
	free(m);
}

const struct sm_app_ops sm_app_handshake = {
        .name = "handshake",
        .start = start,
        .pump = pump,
        .deadline = deadline,
        .failed = failed,
        .free = free_,
};

void sm_intercept_start(struct sm_reactor *r, struct sm_flow *f)
{
	sm_stack_install(r, f, &sm_app_handshake, NULL);
}
