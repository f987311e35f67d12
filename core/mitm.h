/* TLS interception of a CONNECT flow (core/mitm.c: stages; core/mitm_io.c:
 * transport): ClientHello peek, upstream TLS first
 * (so ALPN and the failure are known), then the client handshake with a
 * forged leaf, then HTTP/1.1 relayed through proto/http1 in origin mode with
 * both directions decrypted and re-encrypted (tls/session.h).
 *
 * The HTTP relay code in core/front.c is shared: in this mode its plaintext
 * output queues are encrypted here instead of being sent, and its input
 * queues are filled by decrypting here instead of by recv. */
#ifndef SM_CORE_MITM_H
#define SM_CORE_MITM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/keylog.h"
#include "core/reactor.h"
#include "proto/clienthello.h"
#include "tls/certcache.h"
#include "tls/ca.h"
#include "tls/forge.h"
#include "tls/session.h"

#define SM_RECORD_SMALL      1369          /* payload that fits one segment */
#define SM_RECORD_RAMP_BYTES (16 * 1024)   /* small records per burst */
#define SM_RECORD_IDLE_NS    1000000000ull /* idle time that restarts the ramp */

/* Per-reactor TLS state, built on the reactor thread at start-up. */
struct sm_tls_rt {
	WOLFSSL_CTX *srv;          /* client-facing: certificates set per session */
	WOLFSSL_CTX *cli;          /* upstream-facing, verifying */
	WOLFSSL_CTX *cli_insecure; /* upstream-facing, for tls.insecure_hosts */
	WC_RNG rng;
	bool rng_ok;
	struct sm_forge forge;
	struct sm_certcache cache;
	uint8_t key_der[256]; /* the reactor's leaf key (one for every leaf) */
	size_t key_len;
	uint64_t forged, cache_hits;
};

/* Stages of an intercepted flow (f->state is SM_FLOW_MITM until RELAY,
 * then SM_FLOW_HTTP with f->front->mitm set). */
enum sm_mitm_stage {
	SM_MITM_PEEK = 0, /* collecting the ClientHello */
	SM_MITM_UP_HS,    /* handshake with the upstream */
	SM_MITM_CL_HS,    /* handshake with the client */
	SM_MITM_RELAY,    /* HTTP over TLS both ways */
};

struct sm_mitm {
	struct sm_tls ctls, utls;     /* client side (we serve), upstream side (we connect) */
	struct sm_keylog_ctx klog[2]; /* tls.keylog: [0] ctls, [1] utls */
	int32_t cchunk, uchunk;       /* registered chunks holding each side's ciphertext out */
	bool csend, usend;            /* a send of that ciphertext is in flight */
	bool utls_live;
	uint8_t stage;         /* enum sm_mitm_stage */
	bool up_failed;        /* upstream handshake failed: answer 502 over TLS */
	bool insecure;         /* upstream certificate not verified (tls.insecure_hosts) */
	bool close_after_send; /* close once the ciphertext out is sent */
	bool cflight_sent;     /* our certificate flight reached the client */
	uint64_t burst_bytes;  /* plaintext sent to the client since it was idle */
	uint64_t last_write_ns;
	uint8_t close_reason;
	int up_reason, up_alert;
	uint64_t t_start_ns, hs_deadline_ns;
	struct sm_clienthello ch;
	uint8_t *ch_scratch;
	char name[256]; /* SNI, else the CONNECT host: the leaf's name and the verified name */
};

int sm_mitm_rt_init(struct sm_reactor *r, char *err, size_t errcap);
void sm_mitm_rt_free(struct sm_reactor *r);

/* After "200 Connection established": takes over the flow. */
void sm_mitm_start(struct sm_reactor *r, struct sm_flow *f);
void sm_mitm_free(struct sm_reactor *r, struct sm_mitm *m);

/* Completions routed here while f->front->mitm is set. */
void sm_mitm_client_recv(struct sm_reactor *r, struct sm_flow *f, const uint8_t *data, int res);
void sm_mitm_upstream_recv(struct sm_reactor *r, struct sm_flow *f, const uint8_t *data, int res);
/* Returns true when the plaintext queue of that direction is fully sent. */
bool sm_mitm_send_cqe(struct sm_reactor *r, struct sm_flow *f, bool to_client, int res);

/* The relay's plaintext output for one direction is ready: encrypt, send. */
void sm_mitm_flush(struct sm_reactor *r, struct sm_flow *f, bool to_client);
/* Decrypts what is buffered into the relay's input queue; false on error
 * (the flow is closed). */
bool sm_mitm_pull(struct sm_reactor *r, struct sm_flow *f, bool client);
/* Arms the recv of that side when its TLS input has room. */
void sm_mitm_arm(struct sm_reactor *r, struct sm_flow *f, bool client);
/* An error reply was sent: queue close_notify and close after it. */
void sm_mitm_reply_sent(struct sm_reactor *r, struct sm_flow *f);
/* The handshake deadline passed. */
void sm_mitm_timeout(struct sm_reactor *r, struct sm_flow *f);

/* Between the stages (core/mitm.c) and the transport (core/mitm_io.c). */
void sm_mitm_send_tls(struct sm_reactor *r, struct sm_flow *f, bool client);
/* Gives that session a send chunk for its ciphertext if it has none; false:
 * none free (the flow is closed). */
bool sm_mitm_out_hold(struct sm_reactor *r, struct sm_flow *f, bool client);
void sm_mitm_peek(struct sm_reactor *r, struct sm_flow *f, const uint8_t *data, size_t len);
void sm_mitm_drive_upstream(struct sm_reactor *r, struct sm_flow *f);
void sm_mitm_drive_client(struct sm_reactor *r, struct sm_flow *f);
/* The transport failed (reset, EOF, timeout) during a handshake or relay. */
void sm_mitm_transport_failed(struct sm_reactor *r, struct sm_flow *f, bool client, int reason);

#endif
