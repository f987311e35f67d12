/* soth-bench load engine: one worker per thread, each with its own io_uring
 * and its own connections. A worker runs HTTP/1.1 requests over plain TCP
 * or TLS (wolfSSL with memory I/O callbacks, so every byte moves through the
 * ring), optionally through an explicit proxy (CONNECT tunnel or
 * absolute-form), keep-alive or one connection per request, closed-loop or
 * fixed-rate. Every response is validated with bench/bresp. With http2 a
 * connection negotiates ALPN h2 and carries up to `streams` concurrent GET
 * streams (bench/bh2, nghttp2); each response is one request.
 *
 * Bounds: each connection owns one receive buffer (SM_BLOAD_RX), one send
 * buffer (SM_BLOAD_TX) and one response parser, allocated once at start;
 * at most cfg->connect_window connections are being established at once;
 * a run stops at the deadline, at the request budget, or once the global
 * error count reaches max_errors. */
#ifndef SM_BENCH_BLOAD_H
#define SM_BENCH_BLOAD_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bench/bh2.h"
#include "bench/bhist.h"

#define SM_BLOAD_RX (64 * 1024)
#define SM_BLOAD_TX (32 * 1024)

/* Error kinds, in JSON order. Append-only. */
enum sm_bload_err {
	SM_BLOAD_E_CONNECT = 0, /* TCP connect failed */
	SM_BLOAD_E_PROXY,       /* CONNECT refused (non-2xx) or malformed proxy answer */
	SM_BLOAD_E_TLS,         /* handshake or record failure */
	SM_BLOAD_E_READ,        /* recv failed, or the peer closed mid-response */
	SM_BLOAD_E_WRITE,       /* send failed */
	SM_BLOAD_E_FRAMING,     /* response refused by the framing parser */
	SM_BLOAD_E_STATUS,      /* a complete response with a non-2xx status */
	SM_BLOAD_E_TIMEOUT,     /* no progress within the timeout */
	SM_BLOAD_E_RST_STREAM,  /* --http2: the server reset a stream before its end */
	SM_BLOAD_E_GOAWAY,      /* --http2: GOAWAY with an error code, either way */
	SM_BLOAD_E_COUNT,
};
const char *sm_bload_err_str(enum sm_bload_err e);

/* Shared, read-only during the run (except the atomics). */
struct sm_bload_cfg {
	struct sockaddr_storage addr; /* proxy if any, else the origin */
	socklen_t addrlen;
	int tunnel;      /* send connect_req first */
	int tls;         /* TLS to the origin (inside the tunnel if any) */
	void *tls_ctx;   /* WOLFSSL_CTX* when tls */
	const char *sni; /* server name for SNI, NULL for literals */
	char connect_req[600];
	size_t connect_len;
	char req[1400];
	size_t req_len;
	int http2;               /* ALPN h2, requests as HTTP/2 streams (tls only) */
	unsigned streams;        /* http2: concurrent streams per connection */
	struct sm_bh2_req h2req; /* http2: the request's pseudo-headers (point below) */
	char authority[300];     /* host[:port] as in Host */
	char path[1024];
	int new_conn;               /* one connection per request */
	int hold;                   /* establish (tunnel, TLS) and stay idle until the end */
	double rate;                /* requests/s for the whole run, 0 = closed loop */
	unsigned total_connections; /* across all workers, for the rate schedule */
	uint64_t start_ns, end_ns;  /* CLOCK_MONOTONIC */
	uint64_t timeout_ns;        /* per connect/handshake/response */
	uint64_t max_requests;      /* 0 = unbounded (deadline only) */
	uint64_t max_errors;
	unsigned connect_window; /* connections being established at once */
	_Atomic uint64_t issued; /* requests claimed from the budget */
	_Atomic uint64_t errors_total;
	_Atomic int stop; /* set by anyone: every worker winds down */
};

/* Per-worker results; the atomics are read by the progress printer. */
struct sm_bload_stats {
	struct sm_bhist lat;       /* microseconds */
	_Atomic uint64_t requests; /* complete, validated responses (any status) */
	_Atomic uint64_t bytes;    /* response bytes, head and body */
	_Atomic uint64_t errors;
	_Atomic uint64_t established; /* connections ready (tunnel/TLS done) */
	uint64_t err[SM_BLOAD_E_COUNT];
	uint64_t status_class[6];             /* [1..5]: 1xx..5xx final statuses */
	uint64_t connects;                    /* TCP connections opened */
	uint64_t h2_refused;                  /* streams refused (retried), not errors */
	uint64_t h2_goaway;                   /* graceful GOAWAYs (NO_ERROR) received */
	uint64_t end_ns;                      /* when the worker finished */
	char first_err[SM_BLOAD_E_COUNT][96]; /* one sample message per kind */
};

struct sm_bload_worker_args {
	struct sm_bload_cfg *cfg;
	struct sm_bload_stats *stats;
	unsigned index; /* worker number */
	unsigned nworkers;
	unsigned first_conn;  /* global index of this worker's first connection */
	unsigned connections; /* connections of this worker */
	int cpu;              /* pin to this CPU, -1 = no pinning */
	int rc;               /* 0, or -errno when the worker could not start */
};

/* Installs the memory I/O callbacks on a WOLFSSL_CTX* used as tls_ctx. */
void sm_bload_tls_ctx_setup(void *wolfssl_ctx);

/* Thread entry point: runs one worker to completion. */
void *sm_bload_worker(void *args);

uint64_t sm_bload_now_ns(void);

#endif
