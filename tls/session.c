#include "tls/session.h"

#include <stdlib.h>
#include <string.h>

#include <wolfssl/error-ssl.h>

#include "base/result.h"
#include "tls/x509.h"

/* Follows n bytes of one direction's records. rx: a whole 2-byte alert
 * record of level fatal is an unencrypted alert (encrypted ones are type
 * 23 in TLS 1.3 and longer in TLS 1.2). tx: a type 23 record during the
 * handshake is TLS 1.3's encrypted flight. */
static void records(struct sm_tls *t, struct sm_tls_records *w, const uint8_t *p, size_t n, bool rx)
{
	while (n) {
		if (w->hlen < sizeof(w->hdr)) {
			w->hdr[w->hlen++] = *p++;
			n--;
			if (w->hlen < sizeof(w->hdr))
				continue;
			w->left = (uint32_t)w->hdr[3] << 8 | w->hdr[4];
			w->got = 0;
			if (!rx && w->hdr[0] == 23)
				t->tx_encrypted = true;
		}
		size_t k = n < w->left ? n : w->left;
		for (size_t i = 0; i < k && w->got + i < sizeof(w->body); i++)
			w->body[w->got + i] = p[i];
		w->got += (uint32_t)k;
		w->left -= (uint32_t)k;
		p += k;
		n -= k;
		if (w->left)
			continue;
		if (rx && w->hdr[0] == 21 && w->got == 2 && w->body[0] == 2)
			t->plain_alert = w->body[1];
		w->hlen = 0;
	}
}

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	(void)ssl;
	struct sm_tls *t = ctx;
	if (t->in_len == 0)
		return t->eof_in ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
	size_t n = t->in_len < (uint32_t)sz ? t->in_len : (size_t)sz;
	memcpy(buf, t->in + t->in_off, n);
	t->in_off += (uint32_t)n;
	t->in_len -= (uint32_t)n;
	if (t->in_len == 0)
		t->in_off = 0;
	return (int)n;
}

static int io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	(void)ssl;
	struct sm_tls *t = ctx;
	size_t room = t->out_cap - t->out_len;
	if (room == 0)
		return WOLFSSL_CBIO_ERR_WANT_WRITE;
	size_t n = (size_t)sz < room ? (size_t)sz : room;
	memcpy(t->out + t->out_len, buf, n);
	t->out_len += (uint32_t)n;
	t->out_total += n;
	if (!t->handshake_done)
		records(t, &t->tx_rec, (const uint8_t *)buf, n, false);
	return (int)n;
}

int sm_tls_init(struct sm_tls *t, WOLFSSL_CTX *ctx, bool server, uint8_t *out, size_t out_cap)
{
	memset(t, 0, sizeof(*t));
	t->plain_alert = -1;
	t->server = server;
	t->out = out;
	t->out_cap = (uint32_t)out_cap;
	t->ssl = wolfSSL_new(ctx);
	if (!t->ssl || out_cap < 4096) {
		sm_tls_free(t);
		return SM_ERR_NOMEM;
	}
	wolfSSL_SSLSetIORecv(t->ssl, io_recv);
	wolfSSL_SSLSetIOSend(t->ssl, io_send);
	wolfSSL_SetIOReadCtx(t->ssl, t);
	wolfSSL_SetIOWriteCtx(t->ssl, t);
	return SM_OK;
}

static int secret_cb(WOLFSSL *ssl, int id, const unsigned char *secret, int len, void *ctx)
{
	static const char *const labels[] = {
	        [CLIENT_EARLY_TRAFFIC_SECRET] = "CLIENT_EARLY_TRAFFIC_SECRET",
	        [CLIENT_HANDSHAKE_TRAFFIC_SECRET] = "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
	        [SERVER_HANDSHAKE_TRAFFIC_SECRET] = "SERVER_HANDSHAKE_TRAFFIC_SECRET",
	        [CLIENT_TRAFFIC_SECRET] = "CLIENT_TRAFFIC_SECRET_0",
	        [SERVER_TRAFFIC_SECRET] = "SERVER_TRAFFIC_SECRET_0",
	        [EARLY_EXPORTER_SECRET] = "EARLY_EXPORTER_SECRET",
	        [EXPORTER_SECRET] = "EXPORTER_SECRET",
	};
	struct sm_tls *t = ctx;
	uint8_t cr[32];
	if (id < 0 || id >= (int)(sizeof(labels) / sizeof(labels[0])) || len <= 0 || !t->keylog)
		return 0;
	size_t crlen = wolfSSL_get_client_random(ssl, cr, sizeof(cr));
	if (crlen == sizeof(cr))
		t->keylog(t->keylog_ctx, labels[id], cr, crlen, secret, (size_t)len);
	return 0;
}

void sm_tls_set_keylog(struct sm_tls *t,
                       void (*fn)(void *ctx, const char *label, const uint8_t *client_random,
                                  size_t crlen, const uint8_t *secret, size_t len),
                       void *ctx)
{
	t->keylog = fn;
	t->keylog_ctx = ctx;
	wolfSSL_set_tls13_secret_cb(t->ssl, secret_cb, t);
}

void sm_tls_free(struct sm_tls *t)
{
	if (t->ssl)
		wolfSSL_free(t->ssl);
	free(t->in);
	memset(t, 0, sizeof(*t));
}

size_t sm_tls_in_space(const struct sm_tls *t)
{
	return SM_TLS_IN_CAP - t->in_len;
}

size_t sm_tls_feed(struct sm_tls *t, const uint8_t *data, size_t len)
{
	if (!t->in && !(t->in = malloc(SM_TLS_IN_CAP))) {
		if (!t->err)
			t->err = MEMORY_E;
		return 0;
	}
	if (t->in_off && t->in_off + t->in_len + len > SM_TLS_IN_CAP) {
		memmove(t->in, t->in + t->in_off, t->in_len);
		t->in_off = 0;
	}
	size_t room = SM_TLS_IN_CAP - t->in_off - t->in_len;
	size_t n = len < room ? len : room;
	memcpy(t->in + t->in_off + t->in_len, data, n);
	t->in_len += (uint32_t)n;
	if (!t->handshake_done)
		records(t, &t->rx_rec, data, n, true);
	return n;
}

bool sm_tls_readable(const struct sm_tls *t)
{
	return t->in_len || t->eof_in || t->close_notify || t->err || wolfSSL_pending(t->ssl) > 0;
}

void sm_tls_in_release(struct sm_tls *t)
{
	if (!t->in || t->in_len)
		return;
	free(t->in);
	t->in = NULL;
	t->in_off = 0;
}

void sm_tls_feed_eof(struct sm_tls *t)
{
	t->eof_in = true;
}

static int fail(struct sm_tls *t, int ret)
{
	int e = wolfSSL_get_error(t->ssl, ret);
	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
		return SM_AGAIN;
	t->err = e;
	return SM_ERR_PROTOCOL;
}

void sm_tls_verify_ip(struct sm_tls *t, const uint8_t *ip, size_t len)
{
	if (len != 4 && len != 16)
		return;
	memcpy(t->verify_ip, ip, len);
	t->verify_ip_len = (uint8_t)len;
	t->ip_checked = false;
}

/* The peer's certificate against verify_ip, once wolfSSL has accepted its
 * chain: 1 named, 0 no certificate yet, -1 not named (or unreadable). */
static int peer_names_ip(struct sm_tls *t)
{
	WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(t->ssl); /* a copy: freed below */
	if (!x)
		return 0;
	int len = 0;
	const unsigned char *der = wolfSSL_X509_get_der(x, &len);
	struct sm_x509_info info;
	bool named = der && len > 0 && sm_x509_parse(der, (size_t)len, &info) == SM_OK &&
	             sm_x509_san_has_ip(&info, t->verify_ip, t->verify_ip_len);
	wolfSSL_X509_free(x);
	return named ? 1 : -1;
}

int sm_tls_handshake(struct sm_tls *t)
{
	if (t->handshake_done)
		return SM_OK;
	if (t->err)
		return SM_ERR_PROTOCOL;
	uint32_t out_before = t->out_len;
	int ret = t->server ? wolfSSL_accept(t->ssl) : wolfSSL_connect(t->ssl);
	int e = ret == WOLFSSL_SUCCESS ? 0 : wolfSSL_get_error(t->ssl, ret);
	bool going = e == 0 || e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE;
	if (t->verify_ip_len && !t->ip_checked && going) {
		/* wolfSSL keeps the certificate only once its chain passed */
		int named = peer_names_ip(t);
		if (named < 0 || (named == 0 && e == 0)) {
			t->out_len = out_before; /* what this call wrote never leaves */
			t->err = DOMAIN_NAME_MISMATCH;
			return SM_ERR_PROTOCOL;
		}
		t->ip_checked = named > 0;
	}
	if (e == 0) {
		t->handshake_done = true;
		return SM_OK;
	}
	/* a server waiting for the client after a flight: the one with our
	 * certificate unless it is a HelloRetryRequest (TLS 1.3 flights after
	 * the ServerHello are encrypted) or a resumption (none in it) */
	if (t->server && !t->cert_end && e == WOLFSSL_ERROR_WANT_READ && t->out_total &&
	    !wolfSSL_session_reused(t->ssl) &&
	    (t->tx_encrypted || wolfSSL_version(t->ssl) == TLS1_2_VERSION))
		t->cert_end = t->out_total;
	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
		return SM_AGAIN;
	t->err = e;
	return SM_ERR_PROTOCOL;
}

int sm_tls_read(struct sm_tls *t, uint8_t *buf, size_t cap, size_t *got)
{
	*got = 0;
	if (t->err)
		return SM_ERR_PROTOCOL;
	if (t->close_notify)
		return SM_OK;
	int ret = wolfSSL_read(t->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
	if (ret > 0) {
		*got = (size_t)ret;
		return SM_OK;
	}
	int e = wolfSSL_get_error(t->ssl, ret);
	if (e == WOLFSSL_ERROR_ZERO_RETURN) {
		t->close_notify = true;
		return SM_OK;
	}
	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
		return t->eof_in && t->in_len == 0 ? SM_OK : SM_AGAIN;
	if (t->eof_in && t->in_len == 0 && (e == SOCKET_PEER_CLOSED_E || e == SOCKET_ERROR_E))
		return SM_OK; /* EOF without close_notify: treated as the end */
	t->err = e;
	return SM_ERR_PROTOCOL;
}

void sm_tls_set_out(struct sm_tls *t, uint8_t *out, size_t out_cap)
{
	t->out = out;
	t->out_cap = (uint32_t)out_cap;
	t->out_len = 0;
}

int sm_tls_write(struct sm_tls *t, const uint8_t *data, size_t len, size_t max_record, size_t *took)
{
	*took = 0;
	if (t->err)
		return SM_ERR_PROTOCOL;
	if (t->out_cap < SM_TLS_OVERHEAD + 1)
		return SM_AGAIN;
	if (max_record == 0 || max_record > SM_TLS_RECORD)
		max_record = SM_TLS_RECORD;
	if (max_record > t->out_cap - SM_TLS_OVERHEAD)
		max_record = t->out_cap - SM_TLS_OVERHEAD;
	if (len > max_record)
		len = max_record;
	if (t->out_cap - t->out_len < len + SM_TLS_OVERHEAD)
		return SM_AGAIN;
	int ret = wolfSSL_write(t->ssl, data, (int)len);
	if (ret > 0) {
		*took = (size_t)ret;
		return SM_OK;
	}
	return fail(t, ret);
}

void sm_tls_shutdown(struct sm_tls *t)
{
	if (t->ssl && !t->err)
		wolfSSL_shutdown(t->ssl);
}

size_t sm_tls_out(const struct sm_tls *t, const uint8_t **p)
{
	*p = t->out;
	return t->out_len;
}

void sm_tls_out_done(struct sm_tls *t, size_t n)
{
	t->out_sent += n < t->out_len ? n : t->out_len;
	if (n >= t->out_len) {
		t->out_len = 0;
		return;
	}
	memmove(t->out, t->out + n, t->out_len - n);
	t->out_len -= (uint32_t)n;
}

enum sm_tls_reason sm_tls_reason(const struct sm_tls *t, int *alert)
{
	WOLFSSL_ALERT_HISTORY h;
	int rx = -1, tx = -1;
	if (wolfSSL_get_alert_history(t->ssl, &h) == WOLFSSL_SUCCESS) {
		if (h.last_rx.code > 0 || h.last_rx.level > 0)
			rx = h.last_rx.code;
		if (h.last_tx.code > 0 || h.last_tx.level > 0)
			tx = h.last_tx.code;
	}
	if (rx < 0)
		rx = t->plain_alert;
	*alert = rx >= 0 ? rx : tx;
	return sm_tls_classify(t->err, rx, tx, t->eof_in);
}

bool sm_tls_certificate_delivered(const struct sm_tls *t)
{
	return t->cert_end && t->out_sent >= t->cert_end;
}

const char *sm_tls_version(const struct sm_tls *t)
{
	const char *v = wolfSSL_get_version(t->ssl);
	return v ? v : "";
}

const char *sm_tls_cipher(const struct sm_tls *t)
{
	const char *c = wolfSSL_get_cipher_name(t->ssl);
	return c ? c : "";
}

void sm_tls_alpn(const struct sm_tls *t, const char **p, size_t *len)
{
	char *name = NULL;
	unsigned short n = 0;
	if (wolfSSL_ALPN_GetProtocol(t->ssl, &name, &n) == WOLFSSL_SUCCESS && name) {
		*p = name;
		*len = n;
		return;
	}
	*p = "";
	*len = 0;
}
