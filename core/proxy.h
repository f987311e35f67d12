/* A proxy instance: its reactors, listeners, collector and counters.
 *
 * Everything mutable hangs off struct sm_proxy; two instances in one process
 * share nothing (tests run two side by side). Lifecycle, on one controlling
 * thread: sm_proxy_create() binds the listeners (so errors surface before any
 * thread starts), sm_proxy_start() spawns the reactors and the collector,
 * sm_proxy_stop() asks them to drain, sm_proxy_wait() joins them and
 * sm_proxy_destroy() frees the rest. */
#ifndef SM_CORE_PROXY_H
#define SM_CORE_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/config.h"

struct sm_proxy;

/* Counters summed over every reactor (see docs/events.md for meanings). */
struct sm_proxy_stats {
	uint64_t accepted, open_flows, denied_clients;
	uint64_t decision_tunnel, decision_block;
	uint64_t bytes_up, bytes_down;
	uint64_t upstream_connected, upstream_failed;
	uint64_t events_dropped, enobufs, stale_cqes;
	uint64_t flows_closed;
};

/* Binds every listener of cfg (one SO_REUSEPORT socket per reactor and
 * address) and prepares the reactors. cfg must outlive the instance.
 * cfg->threads above sm_proxy_cpus() is refused (SM_ERR_INVALID, the
 * message says how to allow it) unless cfg->allow_oversubscribe.
 * events_fd: JSONL sink (-1: none); it is not closed by the instance.
 * Returns SM_OK, or an error with a message in err. */
int sm_proxy_create(const struct sm_config *cfg, int events_fd, struct sm_proxy **out, char *err,
                    size_t errcap);

/* What the caller learns and decides while sm_proxy_create_ex builds the
 * reactors (a slow step: each allocates its tables, docs/architecture.md
 * "Memory per reactor"). Any member may be NULL. */
struct sm_proxy_hooks {
	/* once, before the first reactor: how many, and the bytes each takes */
	void (*building)(void *arg, int n_reactors, size_t bytes_each);
	/* between reactors: true stops the build (SIGTERM during start-up);
	 * sm_proxy_create_ex then returns SM_ERR_STATE */
	bool (*interrupted)(void *arg);
	void *arg;
};

/* sm_proxy_create with hooks (NULL: none). */
int sm_proxy_create_ex(const struct sm_config *cfg, int events_fd, const struct sm_proxy_hooks *h,
                       struct sm_proxy **out, char *err, size_t errcap);

/* CPUs this process may run on (its affinity mask: taskset, cpusets), at
 * least 1: the default reactor count, and the most cfg->threads may ask
 * for without cfg->allow_oversubscribe. */
int sm_proxy_cpus(void);

/* Starts the reactor threads and the collector. */
int sm_proxy_start(struct sm_proxy *p, char *err, size_t errcap);

/* Asks every reactor to stop accepting and finish in-flight flows within the
 * configured grace period (then they are closed with reason "shutdown").
 * Safe to call from a signal-handling thread; returns at once. */
void sm_proxy_stop(struct sm_proxy *p);

/* SIGUSR1 (log rotation): the events file and the key log are opened
 * again by path, by the collector thread, once what it drained went to the
 * old ones; returns at once. Counted in soth_log_reopens_total. */
void sm_proxy_reopen_logs(struct sm_proxy *p);

/* /readyz answers 503 from now on while the listeners still accept: a load
 * balancer stops sending before sm_proxy_stop (timeouts.drain_delay_ms). */
void sm_proxy_unready(struct sm_proxy *p);
/* After sm_proxy_stop: the drain ends at once (a second SIGTERM): what is
 * still open is closed with reason shutdown. */
void sm_proxy_stop_now(struct sm_proxy *p);
/* Every reactor's loop has returned (the drain is over). */
bool sm_proxy_stopped(const struct sm_proxy *p);

/* Joins the reactors (after sm_proxy_stop) and drains the event rings. */
void sm_proxy_wait(struct sm_proxy *p);

void sm_proxy_destroy(struct sm_proxy *p);

/* A reload (SIGHUP; main thread only, after start): cfg, built like the
 * start-up one, becomes the configuration of every flow opened from now
 * on; running flows keep theirs (core/snap.h). Refused, with nothing
 * changed, when it differs in a key only a restart can change
 * (sm_config_restart_diff: listen, threads, tls.ca_dir, ...; the message
 * names them) or when SM_PROXY_RETIRED_MAX earlier reloads are still held
 * by a reactor. Waits (up to 5 s) for the reactors to take it. SM_OK: the
 * instance owns cfg; else the caller still does. Counted either way. */
#define SM_PROXY_RETIRED_MAX 64
int sm_proxy_reload(struct sm_proxy *p, struct sm_config *cfg, char *err, size_t errcap);
/* A reload that failed before sm_proxy_reload (the file did not load). */
void sm_proxy_reload_failed(struct sm_proxy *p);
/* The configuration new flows get (the start-up one until a reload). */
const struct sm_config *sm_proxy_config(const struct sm_proxy *p);
/* 0 at start, +1 per reload that took. */
uint64_t sm_proxy_config_epoch(const struct sm_proxy *p);

/* Actual bound address of listener i (after port 0 was resolved). */
int sm_proxy_listen_addr(const struct sm_proxy *p, size_t i, struct sockaddr_storage *out,
                         socklen_t *len);
size_t sm_proxy_n_listen(const struct sm_proxy *p);
int sm_proxy_n_reactors(const struct sm_proxy *p);

/* True once every reactor has armed its accept (readiness). */
bool sm_proxy_ready(const struct sm_proxy *p);

/* True if a reactor could not set up its ring (the error went to stderr). */
bool sm_proxy_failed(const struct sm_proxy *p);

void sm_proxy_stats(const struct sm_proxy *p, struct sm_proxy_stats *out);

/* Bound address of the admin endpoint (cfg->admin, port 0 resolved).
 * SM_OK, or SM_ERR_INVALID when there is none. */
int sm_proxy_admin_addr(const struct sm_proxy *p, struct sockaddr_storage *out, socklen_t *len);

#endif
