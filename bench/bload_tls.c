/* soth-bench load engine: TLS (wolfSSL with memory I/O callbacks: the
 * ciphertext lives in the connection's ring buffers) and, with --http2,
 * ALPN h2. See bload.h. */
#include <stdio.h>
#include <string.h>

#include "bench/bload_int.h"

/* ---- wolfSSL memory I/O: ciphertext lives in c->rx / c->tx ---- */

static int io_recv_cb(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct conn *c = ctx;
	uint32_t avail = c->rx_len - c->rx_off;
	if (avail == 0)
		return c->eof ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
	uint32_t n = avail < (uint32_t)sz ? avail : (uint32_t)sz;
	memcpy(buf, c->rx + c->rx_off, n);
	c->rx_off += n;
	return (int)n;
}

static int io_send_cb(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct conn *c = ctx;
	if (sm_bload_tx_append(c, buf, (size_t)sz) < 0)
		return WOLFSSL_CBIO_ERR_WANT_WRITE;
	return sz;
}

void sm_bload_tls_ctx_setup(void *ctx)
{
	wolfSSL_CTX_SetIORecv((WOLFSSL_CTX *)ctx, io_recv_cb);
	wolfSSL_CTX_SetIOSend((WOLFSSL_CTX *)ctx, io_send_cb);
}

static int alpn_is_h2(WOLFSSL *ssl)
{
	char *proto = NULL;
	unsigned short len = 0;
	return wolfSSL_ALPN_GetProtocol(ssl, &proto, &len) == WOLFSSL_SUCCESS && len == 2 &&
	       memcmp(proto, "h2", 2) == 0;
}

void sm_bload_tls_handshake(struct worker *w, struct conn *c)
{
	int rc = wolfSSL_connect(c->ssl);
	sm_bload_flush_tx(w, c);
	if (rc == WOLFSSL_SUCCESS) {
		if (w->cfg->http2 && !alpn_is_h2(c->ssl)) {
			sm_bload_fail(w, c, SM_BLOAD_E_TLS, "ALPN: the server did not select h2");
			return;
		}
		sm_bload_established(w, c);
		return;
	}
	int err = wolfSSL_get_error(c->ssl, rc);
	if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
		sm_bload_post_recv(w, c);
		return;
	}
	char msg[96];
	snprintf(msg, sizeof(msg), "handshake: %s (%d)", wolfSSL_ERR_reason_error_string(err), err);
	sm_bload_fail(w, c, c->eof ? SM_BLOAD_E_READ : SM_BLOAD_E_TLS, msg);
}

void sm_bload_tls_start(struct worker *w, struct conn *c)
{
	c->ssl = wolfSSL_new((WOLFSSL_CTX *)w->cfg->tls_ctx);
	if (!c->ssl) {
		sm_bload_fail(w, c, SM_BLOAD_E_TLS, "wolfSSL_new failed");
		return;
	}
	wolfSSL_SetIOReadCtx(c->ssl, c);
	wolfSSL_SetIOWriteCtx(c->ssl, c);
	if (w->cfg->sni) {
		wolfSSL_UseSNI(c->ssl, WOLFSSL_SNI_HOST_NAME, w->cfg->sni,
		               (unsigned short)strlen(w->cfg->sni));
		wolfSSL_check_domain_name(c->ssl, w->cfg->sni);
	}
	if (w->cfg->http2) {
		char alpn[] = "h2";
		if (wolfSSL_UseALPN(c->ssl, alpn, sizeof(alpn) - 1,
		                    WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS) {
			sm_bload_fail(w, c, SM_BLOAD_E_TLS, "wolfSSL_UseALPN failed");
			return;
		}
	}
	c->st = C_TLS;
	c->op_start = sm_bload_now_ns();
	sm_bload_tls_handshake(w, c);
}
