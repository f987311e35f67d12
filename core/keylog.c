#include "core/keylog.h"

#include <string.h>

#include "telemetry/event_ring.h"

static size_t hex(char *out, size_t cap, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	if (n > cap / 2)
		n = cap / 2; /* secrets are at most 48 bytes; the cut is never hit */
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	return 2 * n;
}

static void on_secret(void *ctx, const char *label, const uint8_t *cr, size_t crlen,
                      const uint8_t *secret, size_t len)
{
	struct sm_keylog_ctx *c = ctx;
	/* not a flow event: it takes no sequence number, so the JSONL stream
	 * shows no gap for it */
	struct sm_event *ev = sm_event_ring_reserve(&c->r->events);
	if (!ev)
		return;
	memset(ev, 0, offsetof(struct sm_event, s));
	ev->flow = c->f->id;
	ev->core = (uint16_t)c->r->index;
	ev->type = SM_EV_TLS_KEYLOG;
	sm_event_set_str(ev, 0, label, strlen(label));
	ev->slen[1] = (uint8_t)hex(ev->s[1], SM_EVENT_STR_MAX, cr, crlen);
	ev->slen[2] = (uint8_t)hex(ev->s[2], SM_EVENT_STR_MAX, secret, len);
	sm_flow_event_commit(c->r);
}

void sm_keylog_attach(struct sm_reactor *r, struct sm_flow *f, struct sm_tls *t,
                      struct sm_keylog_ctx *c)
{
	if (!r->keylog_on)
		return;
	*c = (struct sm_keylog_ctx){r, f};
	sm_tls_set_keylog(t, on_secret, c);
}
