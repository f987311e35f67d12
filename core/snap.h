/* A configuration snapshot: what a flow was started with and keeps.
 *
 * The instance publishes one current snapshot; a SIGHUP reload builds a new
 * one on the main thread and publishes it by pointer (core/proxy.c). Each
 * reactor adopts it at the top of its loop for the flows it opens from then
 * on; a flow keeps the snapshot it was opened under (f->snap) until it is
 * freed, so rules, timeouts and switches never change under a running flow
 * and the pointers it holds into the configuration (rule descriptions,
 * faults, the observe switches) stay valid.
 *
 * Lifetime: refs counts the instance (while current) and every reactor
 * that holds it (current there, or with flows open under it); the last put
 * frees it. A reactor counts its own flows per snapshot without atomics
 * (struct sm_reactor.held). The start-up snapshot is static: the caller
 * owns its configuration and get/put do nothing. */
#ifndef SM_CORE_SNAP_H
#define SM_CORE_SNAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct sm_config;

struct sm_snap {
	const struct sm_config *cfg;
	struct sm_config *owned; /* freed with the snapshot; NULL when static */
	uint64_t epoch;          /* 0 at start-up, +1 per reload */
	bool req_rules;          /* some rule acts per request (method, path or fault) */
	_Atomic uint32_t refs;
};

/* A static snapshot of cfg (the caller's, outliving every user). */
void sm_snap_init_static(struct sm_snap *s, const struct sm_config *cfg);
/* A counted snapshot owning cfg, one reference held; NULL: no memory (cfg
 * is then still the caller's). */
struct sm_snap *sm_snap_new(struct sm_config *cfg, uint64_t epoch);
void sm_snap_get(struct sm_snap *s);
void sm_snap_put(struct sm_snap *s);

#endif
