/* The collector thread: drains every reactor's event ring and writes JSONL,
 * and the TLS key log (SM_EV_TLS_KEYLOG events) to its own file.
 *
 * Reactors signal new events through wake_fd (an eventfd); the collector also
 * wakes every 50 ms on its own, so a lost wake-up delays output but never
 * loses it. The sink is written with plain blocking write(): the collector is
 * the one thread allowed to block on disk. Write errors are counted and the
 * lines dropped; they never stall a reactor.
 *
 * With `admin` set (before sm_collector_start), the same poll() also watches
 * the admin endpoint's sockets and the collector serves it between drains
 * (telemetry/admin.h): a scrape never runs on a reactor. */
#ifndef SM_TELEMETRY_COLLECTOR_H
#define SM_TELEMETRY_COLLECTOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "telemetry/event_ring.h"

struct sm_admin;

struct sm_collector {
	struct sm_admin *admin;       /* optional admin endpoint, owned by the caller */
	struct sm_event_ring **rings; /* one per reactor, owned by the caller */
	int nrings;
	int out_fd;    /* JSONL sink, -1 = discard */
	int keylog_fd; /* SSLKEYLOGFILE lines (SM_EV_TLS_KEYLOG), -1 = discard */
	int wake_fd;   /* eventfd the reactors write to */
	_Atomic bool stop;
	pthread_t thread;
	bool started;
	_Atomic uint64_t lines;        /* events written */
	_Atomic uint64_t write_errors; /* events lost to sink errors */
	_Atomic uint64_t keylog_lines; /* key log lines written */
	/* log rotation (SIGUSR1): the files are opened again by path on this
	 * thread, after what was drained went to the old ones, and put in place
	 * of the old descriptors (dup2: the numbers stay) */
	const char *out_path;    /* the JSONL file, NULL: not a file (stdout, none) */
	const char *keylog_path; /* NULL: no key log */
	_Atomic bool reopen;     /* asked, not done yet */
	_Atomic uint64_t reopens, reopen_errors;
};

/* Asks the collector to reopen its files (returns at once; any thread). */
void sm_collector_reopen(struct sm_collector *c);

/* Starts the thread. The caller keeps rings alive until sm_collector_stop().
 * Returns SM_OK or SM_ERR_IO. */
int sm_collector_start(struct sm_collector *c, struct sm_event_ring **rings, int nrings, int out_fd,
                       int keylog_fd, int wake_fd);

/* Drains whatever is left in every ring, then joins the thread. */
void sm_collector_stop(struct sm_collector *c);

#endif
