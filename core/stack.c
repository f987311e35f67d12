/* The layer stack of a flow: its pool, and installing, retiring and
 * tearing down layers (core/stack.h). */
#include "core/stack.h"

#include <stdlib.h>
#include <string.h>

#include "core/reactor.h"

struct sm_stack *sm_stack_get(struct sm_reactor *r)
{
	struct sm_stack *st;
	struct sm_stack_cache cache = {0};
	if (r->n_stacks > 0) {
		st = r->stacks[--r->n_stacks];
		cache = st->cache;
	} else if (!(st = malloc(sizeof(*st)))) {
		return NULL;
	}
	memset(st, 0, sizeof(*st));
	st->cache = cache;
	for (int s = 0; s < 2; s++)
		sm_conn_open(&st->conn[s], s, NULL, NULL);
	return st;
}

void sm_stack_put(struct sm_reactor *r, struct sm_stack *st)
{
	for (int s = 0; s < 2; s++)
		sm_conn_close(r, &st->conn[s]);
	if (r->n_stacks < r->stacks_cap)
		r->stacks[r->n_stacks++] = st;
	else
		sm_stack_free(st);
}

void sm_stack_free(struct sm_stack *st)
{
	if (st->cache.p)
		st->cache.free(st->cache.p);
	free(st);
}

void sm_stack_install(struct sm_reactor *r, struct sm_flow *f, const struct sm_app_ops *ops,
                      void *arg)
{
	struct sm_stack *st = f->st;
	if (st->top.ops) {
		/* bounded by the phases a flow goes through in one dispatch */
		if (st->n_retired == SM_RETIRED_MAX) {
			sm_flow_close(r, f, SM_CLOSE_RESOURCE_LIMIT);
			return;
		}
		st->retired[st->n_retired++] = st->top;
		sm_flow_queue(r, f);
	}
	st->top = (struct sm_layer){.ops = ops};
	ops->start(r, f, arg);
}

static void layer_free(struct sm_reactor *r, struct sm_flow *f, struct sm_layer *l)
{
	if (l->ops && l->ops->free)
		l->ops->free(r, f, l->ctx);
	*l = (struct sm_layer){0};
}

void sm_stack_settle(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_stack *st = f->st;
	for (unsigned k = 0; k < st->n_retired; k++)
		layer_free(r, f, &st->retired[k]);
	st->n_retired = 0;
}

void sm_stack_teardown(struct sm_reactor *r, struct sm_flow *f)
{
	struct sm_stack *st = f->st;
	sm_stack_settle(r, f); /* the layers that left first report first */
	layer_free(r, f, &st->top);
	for (int s = 0; s < 2; s++)
		sm_conn_close(r, &st->conn[s]);
}

void sm_stack_pump(struct sm_reactor *r, struct sm_flow *f, int side, int why)
{
	if (sm_flow_closing(f))
		return;
	f->st->top.ops->pump(r, f, side, why);
}

void sm_stack_failed(struct sm_reactor *r, struct sm_flow *f, int side, int err)
{
	f->reset = sm_flow_is_reset(err);
	if (f->st && f->st->top.ops->failed) {
		f->st->top.ops->failed(r, f, side, err);
		return;
	}
	sm_flow_close(r, f,
	              side == SM_SIDE_CLIENT ? SM_CLOSE_CLIENT_RESET : SM_CLOSE_UPSTREAM_RESET);
}
