#include "core/snap.h"

#include <stdlib.h>

#include "core/config.h"

static bool has_request_rules(const struct sm_config *cfg)
{
	for (size_t k = 0; k < cfg->n_rules; k++)
		if (cfg->rules[k].n_methods || cfg->rules[k].path ||
		    cfg->rules[k].action == SM_ACTION_FAULT)
			return true;
	return false;
}

void sm_snap_init_static(struct sm_snap *s, const struct sm_config *cfg)
{
	s->cfg = cfg;
	s->owned = NULL;
	s->epoch = 0;
	s->req_rules = has_request_rules(cfg);
	atomic_init(&s->refs, 1);
}

struct sm_snap *sm_snap_new(struct sm_config *cfg, uint64_t epoch)
{
	struct sm_snap *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->cfg = s->owned = cfg;
	s->epoch = epoch;
	s->req_rules = has_request_rules(cfg);
	atomic_init(&s->refs, 1);
	return s;
}

void sm_snap_get(struct sm_snap *s)
{
	if (s->owned)
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void sm_snap_put(struct sm_snap *s)
{
	if (!s->owned || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	sm_config_free(s->owned);
	free(s);
}
