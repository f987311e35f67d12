/* Configuration: one YAML file (libyaml) plus `--set key=value` overrides.
 *
 * Life cycle (main thread only):
 *   sm_config_load_file() or sm_config_default()  -> a new struct sm_config
 *   sm_config_set() for each --set, in command-line order
 *   publish the pointer; from then on the snapshot is immutable and may be
 *   read from any thread without locks
 *   sm_config_free() once no reactor uses it any more.
 * A SIGHUP reload loads a fresh snapshot and re-applies the same --set list.
 *
 * Ownership: every pointer inside a struct sm_config (strings, arrays, rule
 * descriptions) points into one allocation tree owned by the snapshot and
 * freed by sm_config_free(); it stays valid exactly as long as the snapshot.
 *
 * Errors: functions that fail write one line (no trailing newline) to
 * err/errcap, truncated to fit, naming where and what:
 *   conf.yaml:4:12: rules[1].port: expected an integer 1..65535, got "http"
 *   --set timeouts.connect_ms: unknown key
 * Lines and columns are 1-based. Unknown and duplicate keys are errors.
 * Keys, defaults and meaning: docs/config.md. */
#ifndef SM_CORE_CONFIG_H
#define SM_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/cidr.h"
#include "core/fault.h"
#include "observe/observe.h"
#include "telemetry/schema.h"

/* Hard bounds on what a file may declare (the loader reports an error). */
#define SM_CONFIG_MAX_FILE_BYTES (1u << 20) /* sm_config_load_file input size */
#define SM_CONFIG_MAX_LISTEN     64
#define SM_CONFIG_MAX_THREADS    1024 /* reactors, even with allow_oversubscribe */
#define SM_CONFIG_MAX_CIDRS      4096 /* per list: allow_clients, rule client/dest */
#define SM_CONFIG_MAX_RULES      10000
#define SM_CONFIG_MAX_PORTS      1024 /* per rule */
#define SM_CONFIG_MAX_HOST       253  /* host glob length */
#define SM_CONFIG_MAX_NAME       128  /* rule name length */
#define SM_CONFIG_MAX_PATH       4096 /* events path length */
#define SM_CONFIG_MAX_METHODS    32   /* per rule */
#define SM_CONFIG_MAX_METHOD     32   /* method token length */
#define SM_CONFIG_MAX_URL_PATH   1024 /* rule path glob length */

struct sm_config_listen {
	struct sockaddr_storage addr; /* AF_INET or AF_INET6 with port set */
	socklen_t addrlen;
};

/* One policy rule. Every present field must match (AND); an absent field
 * matches anything. See core/policy.h for evaluation order. A rule with
 * methods or path is a request-level rule: it never decides a connection. */
struct sm_rule {
	const char *name;           /* optional label, printable ASCII; NULL if none */
	const char *host;           /* lower-case glob ('*' = any run of chars); NULL = any */
	const char *sni;            /* lower-case glob on the ClientHello SNI; NULL = any */
	const char *const *methods; /* n_methods case-sensitive tokens (any); none = any */
	size_t n_methods;
	const char *path;              /* glob on the request path without query; NULL = any */
	const struct sm_fault *fault;  /* non-NULL iff action == SM_ACTION_FAULT */
	const uint16_t *ports;         /* n_ports entries; none = any port */
	const struct sm_cidr *clients; /* n_clients entries (any of them); none = any client */
	const struct sm_cidr *dests;   /* n_dests entries (any of them); none = any destination */
	size_t n_ports, n_clients, n_dests;
	enum sm_action action;
	unsigned line;    /* 1-based line of the rule in its file */
	const char *desc; /* `rules[0] host "*.blocked.test" port 443`, for logs and 403 bodies */
};

struct sm_config {
	const char *source; /* file name given to the loader, or "<default>" */

	const struct sm_config_listen *listen; /* n_listen >= 1 */
	size_t n_listen;
	uint32_t threads; /* reactor threads; 0 = one per usable CPU; at most SM_CONFIG_MAX_THREADS
	                   */
	bool allow_oversubscribe; /* threads may exceed the CPUs this process may use */
	enum sm_action default_action;
	const struct sm_cidr *allow_clients; /* n_allow_clients >= 1 */
	size_t n_allow_clients;
	const struct sm_rule *rules; /* in file order */
	size_t n_rules;
	const char *events;      /* JSONL sink path; "-" = stdout; NULL = no events */
	const char *dns_servers; /* "127.0.0.1:5353,[::1]:53"; NULL = system resolver */
	uint64_t seed;           /* fault-injection PRNG seed; 0 = the caller seeds from the clock.
	                            Reactor i uses sm_rng_seed(seed, i) (base/rng.h). */
	const char *admin;       /* admin endpoint "ADDR:PORT" (/metrics...); NULL = off */

	bool strip_alt_svc_h3; /* drop Alt-Svc h3 advertisements from relayed responses */
	bool http2;            /* offer h2 on intercepted connections when both sides can */
	bool http2_upstream_for_h1_clients; /* offer h2 upstream to clients that did not offer
	                                       it, translating HTTP/1.1 to h2 (proto/h1h2.h) */

	/* Protocol observers on relayed HTTP (plain and intercepted). Off means
	 * that protocol is forwarded with no parsing at all. */
	struct sm_observe_config observe;

	struct {
		const char *ca_dir;         /* local CA; NULL = the user's data directory */
		const char *system_ca;      /* trusted roots for upstreams (PEM bundle) */
		const char *upstream_ca;    /* extra trusted roots: comma-separated PEM files */
		const char *insecure_hosts; /* comma-separated host globs whose upstream
		                               certificate is not verified (visible in events) */
		const char *keylog;         /* SSLKEYLOGFILE-format secrets of intercepted
		                               TLS 1.3 sessions appended here; NULL = off */
		uint32_t cert_cache_size;   /* forged leaves kept per reactor */
		uint32_t handshake_timeout_ms;
		enum sm_action non_tls; /* intercept asked but no TLS: tunnel or block */
	} tls;

	struct {
		uint32_t connect_timeout_ms;   /* upstream TCP connect */
		uint32_t idle_timeout_ms;      /* no bytes either way */
		uint32_t dns_timeout_ms;       /* name resolution */
		uint32_t shutdown_grace_ms;    /* drain on SIGTERM before closing flows */
		uint32_t drain_delay_ms;       /* on SIGTERM, /readyz 503 this long before the
		                                  listeners close */
		uint32_t request_head_ms;      /* a request head, from its first byte (the first
		                                  request: from the connection) to its end: 408 */
		uint32_t upstream_response_ms; /* a response head, from its request sent: 504 */
	} timeouts;
	struct {
		uint32_t max_flows_per_thread;
		uint32_t max_header_bytes;       /* request line + headers of a proxy request */
		uint32_t event_ring_size;        /* records per reactor ring, power of two */
		uint32_t send_chunks_per_thread; /* registered 16 KiB send chunks per reactor */
		uint32_t
		        recv_buffers_per_thread; /* provided 16 KiB receive buffers, power of two */
	} limits;

	uint32_t disabled; /* kill switches (`disable:`): bit k = sm_config_switch_name(k) */
	struct sm_config_arena *arena; /* private: owns everything above */
};

/* A snapshot holding the defaults, or NULL if out of memory. */
struct sm_config *sm_config_default(void);

/* Load path (at most SM_CONFIG_MAX_FILE_BYTES). Keys absent from the file
 * keep their defaults. On success returns SM_OK and *out owns a new snapshot;
 * on failure returns SM_ERR_IO (cannot read), SM_ERR_LIMIT (too large),
 * SM_ERR_INVALID (syntax or schema) or SM_ERR_NOMEM, writes err and leaves
 * *out NULL. */
int sm_config_load_file(const char *path, struct sm_config **out, char *err, size_t errcap);

/* Same as sm_config_load_file on an in-memory document; name is used in
 * error messages and as cfg->source. buf need not be NUL-terminated. */
int sm_config_load_buffer(const char *name, const void *buf, size_t len, struct sm_config **out,
                          char *err, size_t errcap);

/* Apply one override "key=value" (dotted key, e.g. timeouts.connect_timeout_ms=2000;
 * list keys listen and allow_clients take comma-separated items and replace
 * the whole list; events= with an empty value disables events; rules cannot
 * be set). Only before the snapshot is published. On failure returns
 * SM_ERR_INVALID, writes err and leaves cfg unchanged. */
int sm_config_set(struct sm_config *cfg, const char *kv, char *err, size_t errcap);

/* Free a snapshot and everything it owns. NULL is fine. */
void sm_config_free(struct sm_config *cfg);

/* Set-ups that work but are unsafe, one line each (no prefix, no newline)
 * handed to emit, in this order: a listener on a non-loopback address while
 * allow_clients admits every address of its family (0.0.0.0/0 for IPv4,
 * ::/0 for IPv6); an admin endpoint on a non-loopback address; an
 * insecure_hosts glob that matches every host ("*"); a listen address
 * given twice (port 0 excepted: each picks its own). Returns the count. */
size_t sm_config_warnings(const struct sm_config *cfg, void (*emit)(void *arg, const char *line),
                          void *arg);

/* "tunnel", "block", "intercept", "fault"; "unknown" otherwise. */

/* The keys a reload cannot change (their tables, sockets and TLS contexts
 * are built at start: listen, threads, limits.*_per_thread, tls.ca_dir,
 * tls.upstream_ca, ...) whose values differ between a and b: their count,
 * their names comma-separated in out (cut to cap). */
size_t sm_config_restart_diff(const struct sm_config *a, const struct sm_config *b, char *out,
                              size_t cap);

/* The effective configuration, for `soth-mitm check`: listen,
 * allow_clients, every key of the table with its value (one per line,
 * `key: value`; those a reload cannot change are marked), and each rule's
 * description and action. */
void sm_config_dump(const struct sm_config *cfg, FILE *out);

/* Kill switches: the top-level `disable:` list names features turned off
 * whatever else the file, a cohort or --set says. Names, by bit:
 * http2, http2_upstream_for_h1_clients, sse, websocket, grpc, decoders,
 * whole_bodies, strip_alt_svc_h3; NULL past the last. */
const char *sm_config_switch_name(int bit);
/* Forces every switch cfg->disabled names off. The loader applies it; a
 * caller that changes the configuration afterwards (--set) applies it again. */
void sm_config_apply_disable(struct sm_config *cfg);

#endif
