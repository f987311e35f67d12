/* TLS failure taxonomy: why a handshake failed, per side. Append-only: the
 * names leave the process in tls_handshake_failed events (docs/tls.md). The
 * mapping from wolfSSL errors and alerts lives in exactly one function,
 * sm_tls_classify(). */
#ifndef SM_TLS_TAXONOMY_H
#define SM_TLS_TAXONOMY_H

enum sm_tls_reason {
	SM_TLS_OK = 0,
	SM_TLS_UNKNOWN_CA,         /* chain does not lead to a trusted CA (or the peer said so) */
	SM_TLS_CERT_EXPIRED,       /* certificate past notAfter */
	SM_TLS_CERT_NOT_YET_VALID, /* certificate before notBefore */
	SM_TLS_HOSTNAME_MISMATCH,  /* certificate does not name the host */
	SM_TLS_HANDSHAKE_ALERT,    /* the peer sent a fatal alert not covered above */
	SM_TLS_TIMEOUT,            /* the handshake did not finish in time */
	SM_TLS_EOF,                /* the peer closed during the handshake */
	SM_TLS_RESET,              /* the connection was reset during the handshake */
	SM_TLS_ALPN_MISMATCH,      /* no common application protocol */
	SM_TLS_PROTOCOL_VERSION,   /* no common TLS version */
	SM_TLS_OTHER,              /* anything else (wolfSSL error in the event) */
	SM_TLS_REASON_COUNT
};

/* Which side of the proxy failed. */
enum sm_tls_side {
	SM_TLS_SIDE_CLIENT = 0, /* between the client and the proxy */
	SM_TLS_SIDE_SERVER = 1, /* between the proxy and the upstream server */
};

/* err: wolfSSL error code; alert_rx/alert_tx: last fatal alert received /
 * sent (-1 if none); eof: transport EOF during the handshake. */
enum sm_tls_reason sm_tls_classify(int err, int alert_rx, int alert_tx, int eof);

const char *sm_tls_reason_name(int r);
const char *sm_tls_side_name(int side);

#endif
