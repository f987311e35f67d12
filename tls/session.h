/* A TLS endpoint as a sans-I/O object: ciphertext in, plaintext out, and
 * the reverse, over two caller-visible byte queues. wolfSSL runs
 * non-blocking with custom I/O callbacks that only touch those queues; it
 * never sees a socket.
 *
 *   network bytes -> sm_tls_feed() -> [in] -> wolfSSL -> sm_tls_read() plaintext
 *   plaintext -> sm_tls_write() -> wolfSSL -> [out] -> sm_tls_out()/sm_tls_out_done() -> network
 *
 * Bounds: `in` holds at most SM_TLS_IN_CAP bytes (one full record and
 * change: the caller stops reading the socket while sm_tls_in_space() is 0);
 * `out` is the caller's buffer, and sm_tls_write() only encrypts when a
 * whole record fits, so wolfSSL never has to be re-called with the same
 * buffer after WANT_WRITE.
 *
 * Ownership: the object owns its WOLFSSL and the `in` queue; `out` and the
 * WOLFSSL_CTX belong to the caller and must outlive it. The `in` queue is
 * allocated by the first feed and may be given back while empty
 * (sm_tls_in_release()), so an idle session holds no input buffer. */
#ifndef SM_TLS_SESSION_H
#define SM_TLS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "tls/taxonomy.h"

#define SM_TLS_IN_CAP   (18 * 1024 + 512) /* a 16 KiB record plus header and tag, twice-ish */
#define SM_TLS_RECORD   16384             /* largest plaintext per record */
#define SM_TLS_OVERHEAD 256               /* record header, tag, padding upper bound */

/* Record boundaries in one direction of a byte stream cut anywhere (the
 * handshake only: what sm_tls_reason() and sm_tls_certificate_delivered()
 * need to know that wolfSSL does not tell). */
struct sm_tls_records {
	uint8_t hdr[5];  /* the current record's header */
	uint8_t hlen;    /* ... bytes of it seen */
	uint8_t body[2]; /* its first body bytes (an alert's level and description) */
	uint32_t got;    /* body bytes seen */
	uint32_t left;   /* body bytes still to come */
};

struct sm_tls {
	WOLFSSL *ssl;
	uint8_t *in, *out;
	uint32_t in_off, in_len;
	uint32_t out_len, out_cap;
	bool server;
	bool handshake_done;
	bool eof_in;           /* transport EOF seen by the caller */
	bool close_notify;     /* peer sent close_notify */
	int err;               /* wolfSSL error of the failure, 0 if none */
	uint8_t verify_ip[16]; /* sm_tls_verify_ip(): the address the peer's certificate must name
	                        */
	uint8_t verify_ip_len; /* 4, 16, or 0: no address to check */
	bool ip_checked;       /* ... and it was found in the certificate */
	struct sm_tls_records rx_rec, tx_rec; /* during the handshake */
	int plain_alert;                      /* fatal alert the peer sent unencrypted, -1 none */
	bool tx_encrypted;  /* a TLS 1.3 encrypted record went out in the handshake */
	uint64_t out_total; /* ciphertext bytes ever written into out */
	uint64_t out_sent;  /* ... and handed out (sm_tls_out_done) */
	uint64_t cert_end;  /* server: out_total once the flight with our certificate
	                       was written whole, 0 while it was not */
	void (*keylog)(void *ctx, const char *label, const uint8_t *client_random, size_t crlen,
	               const uint8_t *secret, size_t len);
	void *keylog_ctx;
};

/* Creates the endpoint. server: accept side. out/out_cap: the caller's
 * memory for outgoing ciphertext (a registered send chunk in the reactor;
 * at least 4 KiB, and records are cut to fit it). Returns SM_OK or
 * SM_ERR_NOMEM. */
int sm_tls_init(struct sm_tls *t, WOLFSSL_CTX *ctx, bool server, uint8_t *out, size_t out_cap);
void sm_tls_free(struct sm_tls *t);

/* Moves the ciphertext output to other memory (NULL, 0: none). Only while
 * sm_tls_out() is empty; with no memory, the next call that has to write
 * fails with SM_AGAIN, so give it memory before driving the session. */
void sm_tls_set_out(struct sm_tls *t, uint8_t *out, size_t out_cap);

/* Asks for the session's TLS 1.3 secrets as the handshake derives them:
 * fn gets the SSLKEYLOGFILE label (CLIENT_HANDSHAKE_TRAFFIC_SECRET,
 * SERVER_TRAFFIC_SECRET_0, ...), the ClientHello random and the secret,
 * from inside sm_tls_handshake(). A TLS 1.2 session reports nothing: its
 * master secret is not exposed by this wolfSSL build. Call before the
 * handshake. */
void sm_tls_set_keylog(struct sm_tls *t,
                       void (*fn)(void *ctx, const char *label, const uint8_t *client_random,
                                  size_t crlen, const uint8_t *secret, size_t len),
                       void *ctx);

/* The peer is reached by an IP address (len 4 or 16 bytes): its certificate
 * must name it as an iPAddress subjectAltName; a dNSName or the CN spelling
 * the address does not count. For a client endpoint, instead of
 * wolfSSL_check_domain_name() (which matches an address against DNS names
 * and the CN too). wolfSSL verifies the chain; the address is checked as
 * soon as the certificate passed, in the same sm_tls_handshake() call, and
 * a certificate without it fails the handshake with DOMAIN_NAME_MISMATCH
 * (hostname_mismatch) before anything that call wrote (our key exchange or
 * Finished) is handed out: the peer sees the connection close, no alert
 * (wolfSSL 5.5.4 has no call to send one). Call before the handshake. */
void sm_tls_verify_ip(struct sm_tls *t, const uint8_t *ip, size_t len);

/* Ciphertext from the network: copies up to sm_tls_in_space() bytes and
 * returns how many were taken. */
size_t sm_tls_in_space(const struct sm_tls *t);
size_t sm_tls_feed(struct sm_tls *t, const uint8_t *data, size_t len);
/* 1 when sm_tls_read() has something to report: ciphertext queued,
 * plaintext wolfSSL already decrypted, or the end (EOF, close_notify). */
bool sm_tls_readable(const struct sm_tls *t);

/* Frees the empty input queue (the next feed allocates it again); no-op
 * while it holds bytes. A feed that cannot allocate takes nothing and fails
 * the session (MEMORY_E). */
void sm_tls_in_release(struct sm_tls *t);
/* The transport reached EOF: pending reads fail with eof. */
void sm_tls_feed_eof(struct sm_tls *t);

/* Drives the handshake: SM_OK when complete, SM_AGAIN when it needs more
 * input (or room in `out`), SM_ERR_PROTOCOL on failure (see sm_tls_reason). */
int sm_tls_handshake(struct sm_tls *t);

/* Decrypts into buf. SM_OK with *got bytes (> 0), or *got == 0 after the
 * peer's close_notify or transport EOF; SM_AGAIN: nothing yet;
 * SM_ERR_PROTOCOL on failure. (Counts travel apart from the result: a
 * 1-byte record must not read as SM_AGAIN, which is 1.) */
int sm_tls_read(struct sm_tls *t, uint8_t *buf, size_t cap, size_t *got);

/* Encrypts up to min(len, max_record) bytes as one record when it fits in
 * `out`: SM_OK with *took bytes taken, SM_AGAIN when `out` lacks room, or
 * SM_ERR_PROTOCOL. max_record 0 means SM_TLS_RECORD. */
int sm_tls_write(struct sm_tls *t, const uint8_t *data, size_t len, size_t max_record,
                 size_t *took);

/* Queues a close_notify into `out`. */
void sm_tls_shutdown(struct sm_tls *t);

/* Ciphertext waiting to be sent: pointer and length; then how much went. */
size_t sm_tls_out(const struct sm_tls *t, const uint8_t **p);
void sm_tls_out_done(struct sm_tls *t, size_t n);

/* After SM_ERR_PROTOCOL: the failure in the taxonomy, the alert code seen
 * (received if any, else sent; -1 if none). A fatal alert the peer sent
 * unencrypted after the keys changed counts as received: wolfSSL 5.5.4
 * fails such a record with PARSE_ERROR and keeps no history of it, and it
 * is what OpenSSL clients (curl, Python) send in TLS 1.3 when they refuse
 * our certificate. */
enum sm_tls_reason sm_tls_reason(const struct sm_tls *t, int *alert);

/* A server endpoint's flight carrying our certificate was written whole
 * and handed out (sm_tls_out_done() covered it): not a HelloRetryRequest,
 * not a resumed session's flight (no certificate in it). What the
 * closed_after_certificate inference of docs/tls.md rests on. */
bool sm_tls_certificate_delivered(const struct sm_tls *t);

/* Negotiated details once the handshake is done (static strings; "" if none). */
const char *sm_tls_version(const struct sm_tls *t);
const char *sm_tls_cipher(const struct sm_tls *t);
/* Selected ALPN protocol (not NUL-terminated), or len 0. */
void sm_tls_alpn(const struct sm_tls *t, const char **p, size_t *len);

#endif
