/* TLS interception of CONNECT flows. See core/mitm.h. */
#include "core/mitm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/wolfcrypt/random.h>

#include "base/addr.h"
#include "core/front.h"
#include "core/h2xlate.h"
#include "core/keylog.h"
#include "core/observe.h"
#include "proto/h2.h"
#include "core/policy.h"
#include "core/proxy_internal.h"
#include "base/result.h"
#include "telemetry/event.h"

#define CH_MAX SM_CLIENTHELLO_MAX_DEFAULT

static int64_t wall_s(void)
{
	return (int64_t)(sm_wall_ns() / 1000000000ull);
}

/* ---- per-reactor state -------------------------------------------------------- */

static void release_entry(void *user, void *arg)
{
	(void)user, (void)arg; /* entries hold only DER: nothing to free */
}

int sm_mitm_rt_init(struct sm_reactor *r, char *err, size_t errcap)
{
	const struct sm_proxy_rt *rt = sm_proxy_rt(r->proxy);
	if (!rt->ca)
		return SM_OK; /* this configuration never intercepts */
	struct sm_tls_rt *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errcap, "tls: out of memory");
		return SM_ERR_NOMEM;
	}
	r->tls = t;
	t->srv = wolfSSL_CTX_new(wolfSSLv23_server_method());
	t->cli = wolfSSL_CTX_new(wolfSSLv23_client_method());
	t->cli_insecure = wolfSSL_CTX_new(wolfSSLv23_client_method());
	if (!t->srv || !t->cli || !t->cli_insecure || wc_InitRng(&t->rng) != 0) {
		snprintf(err, errcap, "tls: cannot create wolfSSL contexts");
		return SM_ERR_NOMEM;
	}
	t->rng_ok = true;
	wolfSSL_CTX_set_verify(t->cli, WOLFSSL_VERIFY_PEER, NULL);
	wolfSSL_CTX_set_verify(t->cli_insecure, WOLFSSL_VERIFY_NONE, NULL);
	if (rt->trust_len &&
	    wolfSSL_CTX_load_verify_buffer(t->cli, rt->trust_pem, (long)rt->trust_len,
	                                   WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
		snprintf(err, errcap, "tls: no usable certificate in the trusted roots");
		return SM_ERR_INVALID;
	}
	if (sm_forge_init(&t->forge, rt->ca, &t->rng) != SM_OK ||
	    sm_forge_key_der(&t->forge, t->key_der, sizeof(t->key_der), &t->key_len) != SM_OK ||
	    sm_certcache_init(&t->cache, r->cfg->tls.cert_cache_size, release_entry, NULL) !=
	            SM_OK) {
		snprintf(err, errcap, "tls: cannot prepare leaf forging");
		return SM_ERR_NOMEM;
	}
	/* wolfSSL_new() refuses a server context without a key pair: give it
	 * the reactor's leaf key and a placeholder leaf; every session then
	 * sets the leaf forged for its own name */
	uint8_t der[SM_FORGE_DER_MAX];
	size_t der_len;
	int64_t not_after;
	static const char placeholder[] = "soth-mitm.invalid";
	if (sm_forge_leaf(&t->forge, placeholder, sizeof(placeholder) - 1, wall_s(), der,
	                  sizeof(der), &der_len, &not_after) != SM_OK ||
	    wolfSSL_CTX_use_certificate_buffer(t->srv, der, (long)der_len, WOLFSSL_FILETYPE_ASN1) !=
	            WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_use_PrivateKey_buffer(t->srv, t->key_der, (long)t->key_len,
	                                      WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS) {
		snprintf(err, errcap, "tls: cannot set up the client-facing context");
		return SM_ERR_INVALID;
	}
	return SM_OK;
}

void sm_mitm_rt_free(struct sm_reactor *r)
{
	struct sm_tls_rt *t = r->tls;
	if (!t)
		return;
	sm_certcache_free(&t->cache);
	sm_forge_free(&t->forge);
	if (t->rng_ok)
		wc_FreeRng(&t->rng);
	if (t->srv)
		wolfSSL_CTX_free(t->srv);
	if (t->cli)
		wolfSSL_CTX_free(t->cli);
	if (t->cli_insecure)
		wolfSSL_CTX_free(t->cli_insecure);
	free(t);
	r->tls = NULL;
}

/* ---- helpers ------------------------------------------------------------------ */

static bool outq_chunk(struct sm_reactor *r, int32_t *c)
{
	if (*c < 0)
		*c = sm_chunk_get(r);
	return *c >= 0;
}

void sm_mitm_free(struct sm_reactor *r, struct sm_mitm *m)
{
	if (!m)
		return;
	sm_tls_free(&m->ctls);
	if (m->utls_live)
		sm_tls_free(&m->utls);
	sm_chunk_put(r, m->cchunk);
	sm_chunk_put(r, m->uchunk);
	free(m->ch_scratch);
	free(m);
}

static void hs_failed_event(struct sm_reactor *r, struct sm_flow *f, int side, int reason,
                            int alert, int err, int source)
{
	struct sm_front *fr = f->front;
	sm_metrics_tls_failed(r->m, side, reason);
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_TLS_HANDSHAKE_FAILED);
	if (!ev)
		return;
	ev->i[0] = side;
	ev->i[1] = reason;
	ev->i[2] = alert;
	ev->i[3] = err;
	ev->i[4] = source;
	char buf[300];
	size_t n = sm_addr_format((const struct sockaddr *)&fr->peer, buf, sizeof(buf));
	sm_event_set_str(ev, 0, buf, n);
	n = sm_addr_format_host(fr->host, fr->port, buf, sizeof(buf));
	sm_event_set_str(ev, 1, buf, n);
	sm_event_set_str(ev, 2, fr->mitm->ch.sni, fr->mitm->ch.sni_len);
	sm_flow_event_commit(r);
}

static int source_of(int reason, int alert_rx)
{
	if (reason == SM_TLS_EOF || reason == SM_TLS_RESET || reason == SM_TLS_TIMEOUT)
		return SM_TLS_SRC_TRANSPORT;
	return alert_rx >= 0 ? SM_TLS_SRC_PEER : SM_TLS_SRC_LOCAL;
}

/* Classifies a failed endpoint; alert_rx tells who spoke first. */
static int classify(struct sm_tls *t, int *alert, int *source)
{
	WOLFSSL_ALERT_HISTORY h;
	int rx = -1;
	if (wolfSSL_get_alert_history(t->ssl, &h) == WOLFSSL_SUCCESS &&
	    (h.last_rx.code > 0 || h.last_rx.level > 0))
		rx = h.last_rx.code;
	int reason = sm_tls_reason(t, alert);
	*source = source_of(reason, reason == SM_TLS_EOF ? -1 : rx);
	return reason;
}

static void ok_event(struct sm_reactor *r, struct sm_flow *f, int side, struct sm_tls *t)
{
	struct sm_mitm *m = f->front->mitm;
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
	sm_event_set_str(ev, 2, m->name, strlen(m->name));
	sm_flow_event_commit(r);
}

static void close_after_alert(struct sm_reactor *r, struct sm_flow *f, bool client, int reason)
{
	struct sm_mitm *m = f->front->mitm;
	struct sm_tls *t = client ? &m->ctls : &m->utls;
	const uint8_t *p;
	if (sm_tls_out(t, &p) > 0 && !(client ? m->csend : m->usend)) {
		m->close_after_send = true;
		m->close_reason = (uint8_t)reason;
		sm_mitm_send_tls(r, f, client);
		return;
	}
	sm_flow_close(r, f, reason);
}

/* ---- stages --------------------------------------------------------------------- */

static void client_handshake(struct sm_reactor *r, struct sm_flow *f);

static bool name_is_ip(const char *s)
{
	struct in6_addr a;
	return inet_pton(AF_INET, s, &a) == 1 || inet_pton(AF_INET6, s, &a) == 1;
}

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

void sm_mitm_drive_upstream(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_mitm *m = f->front->mitm;
	int rc = sm_tls_handshake(&m->utls);
	sm_mitm_send_tls(r, f, false);
	if (rc == SM_AGAIN) {
		sm_mitm_arm(r, f, false);
		return;
	}
	if (rc == SM_OK) {
		ok_event(r, f, SM_TLS_SIDE_SERVER, &m->utls);
	} else {
		int alert, source;
		m->up_reason = classify(&m->utls, &alert, &source);
		m->up_alert = alert;
		m->up_failed = true;
		hs_failed_event(r, f, SM_TLS_SIDE_SERVER, m->up_reason, alert, m->utls.err, source);
	}
	client_handshake(r, f);
}

/* The upstream side: SNI, verification of the name, ALPN from the client's
 * offer: h2 and http/1.1 (see core/h2xlate.h). */
static void start_upstream(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	struct sm_mitm *m = fr->mitm;
	m->insecure = insecure_host(r->cfg, fr->host) || insecure_host(r->cfg, m->name);
	if (!outq_chunk(r, &m->uchunk) ||
	    sm_tls_init(&m->utls, m->insecure ? r->tls->cli_insecure : r->tls->cli, false,
	                sm_chunk_ptr(r, m->uchunk), SM_CHUNK_SIZE) != SM_OK) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	m->utls_live = true;
	sm_keylog_attach(r, f, &m->utls, &m->klog[1]);
	WOLFSSL *ssl = m->utls.ssl;
	if (!name_is_ip(m->name))
		wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, m->name,
		               (unsigned short)strlen(m->name));
	if (!m->insecure)
		wolfSSL_check_domain_name(ssl, m->name);
	/* h2 (when the client offers it and the http2 switch is on, or for
	 * every client with http2_upstream_for_h1_clients) and http/1.1: the
	 * side that lacks h2 is translated (core/h2xlate.h) */
	const char *alpn = sm_h2xlate_upstream_alpn(&m->ch, r->cfg->http2,
	                                            r->cfg->http2_upstream_for_h1_clients);
	if (alpn) {
		char list[16];
		snprintf(list, sizeof(list), "%s", alpn);
		wolfSSL_UseALPN(ssl, list, (unsigned)strlen(list), WOLFSSL_ALPN_FAILED_ON_MISMATCH);
	}
	m->stage = SM_MITM_UP_HS;
	sm_mitm_drive_upstream(r, f);
}

static void client_hello_event(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_mitm *m = f->front->mitm;
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

static void tunnel_peeked(struct sm_reactor *r, struct sm_flow *f);

/* The client did not start TLS: tunnel its bytes untouched or close. */
static void not_tls(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	struct sm_mitm *m = fr->mitm;
	int action = r->cfg->tls.non_tls == SM_ACTION_BLOCK ? SM_ACTION_BLOCK : SM_ACTION_TUNNEL;
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_TLS_NOT_TLS);
	if (ev) {
		static const char hex[] = "0123456789abcdef";
		char buf[32];
		size_t n = 0;
		for (uint32_t i = 0; i < m->ctls.in_len && n + 2 <= 16; i++) {
			uint8_t b = m->ctls.in[m->ctls.in_off + i];
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

/* Gives up interception: the bytes seen so far go upstream first, then the
 * splice tunnel takes over. */
static void tunnel_peeked(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	struct sm_mitm *m = fr->mitm;
	uint32_t n = m->ctls.in_len < fr->cin.cap ? m->ctls.in_len : fr->cin.cap;
	if (n && !sm_inq_hold(&fr->cin)) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	if (n)
		memcpy(fr->cin.buf, m->ctls.in + m->ctls.in_off, n);
	fr->cin.off = 0;
	fr->cin.len = n;
	fr->mitm = NULL;
	sm_mitm_free(r, m);
	fr->intercept = false;
	f->state = SM_FLOW_ESTABLISH;
	sm_front_establish_continue(r, f);
}

/* Rules on the SNI decide now. Returns false when the flow no longer
 * intercepts (tunnelled, blocked, reset). */
static bool sni_decision(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	struct sm_mitm *m = fr->mitm;
	struct sm_policy_input in = {
	        .host = fr->host,
	        .host_len = strlen(fr->host),
	        .port = fr->port,
	        .client = (const struct sockaddr *)&fr->peer,
	        .dest = (const struct sockaddr *)&fr->addrs[fr->addr_idx],
	        .sni = m->ch.has_sni ? m->ch.sni : NULL,
	        .sni_len = m->ch.has_sni ? m->ch.sni_len : 0,
	        .roll = fr->roll,
	};
	struct sm_policy_decision d;
	sm_policy_decide_sni(r->cfg, &in, &d);
	fr->need_sni = false;
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
		fr->conn_fault = d.fault; /* intercept, and answer every request with it */
		fr->conn_fault_rule = d.rule;
		return true;
	default: return true;
	}
}

void sm_mitm_peek(struct sm_reactor *r, struct sm_flow *f, const uint8_t *data, size_t len)
{
	struct sm_front *fr = f->front;
	struct sm_mitm *m = fr->mitm;
	int rc = sm_clienthello_feed(&m->ch, data, len);
	if (rc == SM_AGAIN) {
		sm_mitm_arm(r, f, true);
		return;
	}
	if (rc == SM_ERR_PROTOCOL && m->ch.reason == SM_CH_NOT_TLS) {
		not_tls(r, f);
		return;
	}
	/* a malformed hello is left to wolfSSL, which fails it with a reason */
	client_hello_event(r, f);
	if (fr->need_sni && !sni_decision(r, f))
		return;
	if (m->ch.has_sni && m->ch.sni_len)
		memcpy(m->name, m->ch.sni, (size_t)m->ch.sni_len + 1);
	else
		snprintf(m->name, sizeof(m->name), "%s", fr->host);
	start_upstream(r, f);
}

static void relay_ready(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	struct sm_mitm *m = fr->mitm;
	m->stage = SM_MITM_RELAY;
	free(m->ch_scratch); /* the ClientHello is decided on; SNI lives in m->ch */
	m->ch_scratch = NULL;
	m->ch.scratch = NULL;
	struct sm_authority auth = {0};
	size_t hl = strlen(fr->host);
	memcpy(auth.host, fr->host, hl + 1);
	auth.host_len = (uint16_t)hl;
	auth.port = fr->port;
	auth.kind = name_is_ip(fr->host) ? SM_AUTHORITY_IPV4 : SM_AUTHORITY_NAME;
	/* the layer parsed the CONNECT and stopped: a fresh one for the stream */
	sm_front_reset_h1(r, fr);
	sm_observe_attach(r, f);
	fr->requests = 0; /* requests inside the TLS stream, from 1 */
	sm_h1_set_origin(fr->h1, &auth);
	snprintf(fr->live_host, sizeof(fr->live_host), "%s", m->name);
	fr->live_port = fr->port;
	f->state = SM_FLOW_HTTP;
	if (m->up_failed) {
		char detail[400];
		snprintf(detail, sizeof(detail), "TLS handshake with %s:%u failed: %s%s", fr->host,
		         fr->port, sm_tls_reason_name(m->up_reason),
		         m->insecure ? " (verification off)" : "");
		sm_front_reply_error(r, f, 502, "upstream TLS failed", detail,
		                     SM_CLOSE_TLS_SERVER_FAILED);
		return;
	}
	const char *a;
	size_t alen;
	sm_tls_alpn(&m->ctls, &a, &alen);
	bool client_h2 = alen == 2 && memcmp(a, "h2", 2) == 0;
	sm_tls_alpn(&m->utls, &a, &alen);
	bool up_h2 = alen == 2 && memcmp(a, "h2", 2) == 0;
	if (client_h2) /* HTTP/2 relay, or translation to 1.1 */
		fr->h2 = up_h2 ? sm_h2_new(NULL) : sm_h2xlate_new();
	else if (up_h2) /* HTTP/1.1 client, h2 upstream: translated (proto/h1h2) */
		fr->h2 = sm_h2xlate_new_h1h2(&auth);
	if (client_h2 || up_h2) {
		if (!fr->h2) {
			sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
			return;
		}
		sm_h2relay_counted(r, fr);
		if (client_h2 && !up_h2)
			SM_CTR_INC(r, h2_xlate_h2h1);
		else if (!client_h2)
			SM_CTR_INC(r, h2_xlate_h1h2);
		fr->h2_client_h1 = !client_h2;
	}
	sm_front_pump_client(r, f);
	sm_front_pump_upstream(r, f);
}

void sm_mitm_drive_client(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_mitm *m = f->front->mitm;
	int rc = sm_tls_handshake(&m->ctls);
	sm_mitm_send_tls(r, f, true);
	if (rc == SM_AGAIN) {
		sm_mitm_arm(r, f, true);
		return;
	}
	if (rc == SM_OK) {
		ok_event(r, f, SM_TLS_SIDE_CLIENT, &m->ctls);
		relay_ready(r, f);
		return;
	}
	int alert, source;
	int reason = classify(&m->ctls, &alert, &source);
	if (m->cflight_sent &&
	    (reason == SM_TLS_OTHER || reason == SM_TLS_EOF || reason == SM_TLS_HANDSHAKE_ALERT)) {
		/* the client had our certificate and gave up before its
		 * Finished: it does not trust us (an unknown CA or a pinned app);
		 * wolfSSL cannot always read the alert it sent */
		reason = SM_TLS_UNKNOWN_CA;
		source = SM_TLS_SRC_PEER;
	}
	hs_failed_event(r, f, SM_TLS_SIDE_CLIENT, reason, alert, m->ctls.err, source);
	close_after_alert(r, f, true, SM_CLOSE_TLS_CLIENT_FAILED);
}

/* Leaf for m->name: from the cache, else forged now (~20 us). */
static bool set_leaf(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_mitm *m = f->front->mitm;
	struct sm_tls_rt *t = r->tls;
	size_t len = strlen(m->name);
	bool ip = name_is_ip(m->name);
	int64_t now = wall_s();
	uint64_t t0 = sm_now_ns();
	struct sm_certcache_entry *e = sm_certcache_get(&t->cache, m->name, len, ip, now);
	bool hit = e != NULL;
	if (!e) {
		uint8_t der[SM_FORGE_DER_MAX];
		size_t der_len;
		int64_t not_after;
		if (sm_forge_leaf(&t->forge, m->name, len, now, der, sizeof(der), &der_len,
		                  &not_after) != SM_OK ||
		    sm_certcache_put(&t->cache, m->name, len, ip, der, der_len, not_after, &e) !=
		            SM_OK)
			return false;
		t->forged++;
		SM_CTR_INC(r, certs_forged);
	} else {
		t->cache_hits++;
		SM_CTR_INC(r, cert_cache_hits);
	}
	struct sm_event *ev = sm_flow_event(r, f, SM_EV_CERT_FORGED);
	if (ev) {
		ev->i[0] = hit ? 0 : (int64_t)((sm_now_ns() - t0) / 1000);
		ev->i[1] = hit;
		sm_event_set_str(ev, 0, m->name, len);
		sm_flow_event_commit(r);
	}
	return wolfSSL_use_certificate_buffer(m->ctls.ssl, e->der, (long)e->der_len,
	                                      WOLFSSL_FILETYPE_ASN1) == WOLFSSL_SUCCESS &&
	       wolfSSL_use_PrivateKey_buffer(m->ctls.ssl, t->key_der, (long)t->key_len,
	                                     WOLFSSL_FILETYPE_ASN1) == WOLFSSL_SUCCESS;
}

/* The client side offers exactly what the upstream settled on. */
static void client_handshake(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_mitm *m = f->front->mitm;
	if (!set_leaf(r, f)) {
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	const char *a = "";
	size_t alen = 0;
	if (!m->up_failed)
		sm_tls_alpn(&m->utls, &a, &alen);
	static char h11[] = "http/1.1", h2[] = "h2";
	bool reverse = sm_h2xlate_reverse(&m->ch, m->up_failed, a, alen);
	if (reverse) { /* the client did not offer h2: it keeps HTTP/1.1 (or no ALPN) */
		if (m->ch.alpn_count)
			wolfSSL_UseALPN(m->ctls.ssl, h11, 8, WOLFSSL_ALPN_CONTINUE_ON_MISMATCH);
	} else if ((alen == 2 && memcmp(a, h2, 2) == 0) ||
	           sm_h2xlate_wanted(&m->ch, r->cfg->http2, m->up_failed, a, alen))
		wolfSSL_UseALPN(m->ctls.ssl, h2, 2, WOLFSSL_ALPN_FAILED_ON_MISMATCH);
	else if (alen == 8 && memcmp(a, h11, 8) == 0)
		wolfSSL_UseALPN(m->ctls.ssl, h11, 8, WOLFSSL_ALPN_FAILED_ON_MISMATCH);
	else if (m->ch.alpn_count && m->up_failed)
		wolfSSL_UseALPN(m->ctls.ssl, h11, 8, WOLFSSL_ALPN_CONTINUE_ON_MISMATCH);
	m->stage = SM_MITM_CL_HS;
	sm_mitm_drive_client(r, f);
}

/* ---- entry points ----------------------------------------------------------------- */

void sm_mitm_start(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_front *fr = f->front;
	struct sm_mitm *m = calloc(1, sizeof(*m));
	if (m) {
		m->cchunk = m->uchunk = -1;
		m->ch_scratch = malloc(CH_MAX);
	}
	if (!m || !m->ch_scratch || !r->tls || !outq_chunk(r, &m->cchunk) ||
	    sm_tls_init(&m->ctls, r->tls->srv, true, sm_chunk_ptr(r, m->cchunk), SM_CHUNK_SIZE) !=
	            SM_OK) {
		if (m)
			free(m->ch_scratch);
		if (m && m->cchunk >= 0)
			sm_chunk_put(r, m->cchunk);
		free(m);
		sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
		return;
	}
	sm_keylog_attach(r, f, &m->ctls, &m->klog[0]);
	fr->mitm = m;
	f->state = SM_FLOW_MITM;
	m->stage = SM_MITM_PEEK;
	m->t_start_ns = sm_now_ns();
	m->hs_deadline_ns = m->t_start_ns + (uint64_t)r->cfg->tls.handshake_timeout_ms * 1000000ull;
	sm_flow_deadline(r, f, m->hs_deadline_ns);
	sm_clienthello_init(&m->ch, m->ch_scratch, CH_MAX);
	/* bytes the client sent right after its CONNECT head */
	if (fr->cin.len) {
		size_t n = sm_tls_feed(&m->ctls, fr->cin.buf + fr->cin.off, fr->cin.len);
		if (!n) {
			sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
			return;
		}
		const uint8_t *p = m->ctls.in + m->ctls.in_off;
		fr->cin.len = fr->cin.off = 0;
		sm_mitm_peek(r, f, p, n);
		return;
	}
	sm_mitm_arm(r, f, true);
}

void sm_mitm_transport_failed(struct sm_reactor *r, struct sm_flow *f, bool client, int reason)
{
	struct sm_mitm *m = f->front->mitm;
	if (!client && m->stage == SM_MITM_UP_HS) {
		m->up_failed = true;
		m->up_reason = reason;
		hs_failed_event(r, f, SM_TLS_SIDE_SERVER, reason, -1, 0, SM_TLS_SRC_TRANSPORT);
		client_handshake(r, f);
		return;
	}
	hs_failed_event(r, f, client ? SM_TLS_SIDE_CLIENT : SM_TLS_SIDE_SERVER, reason, -1, 0,
	                SM_TLS_SRC_TRANSPORT);
	sm_flow_close(r, f, client ? SM_CLOSE_TLS_CLIENT_FAILED : SM_CLOSE_TLS_SERVER_FAILED);
}

void sm_mitm_reply_sent(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_mitm *m = f->front->mitm;
	if (!sm_mitm_out_hold(r, f, true))
		return;
	sm_tls_shutdown(&m->ctls);
	close_after_alert(r, f, true, f->front->pending_reason);
}

void sm_mitm_timeout(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_mitm *m = f->front->mitm;
	if (m->stage == SM_MITM_UP_HS) {
		sm_mitm_transport_failed(r, f, false, SM_TLS_TIMEOUT);
		return;
	}
	sm_mitm_transport_failed(r, f, true, SM_TLS_TIMEOUT);
}
