/* Fuzz the YAML config loader from a memory buffer, then a --set built from
 * the tail of the input. Every accepted snapshot is walked (so ASan sees any
 * bad pointer) and freed (so LeakSanitizer sees any leak). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/config.h"
#include "core/policy.h"
#include "core/result.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct sm_config *cfg)
{
	volatile size_t sink = 0;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct sm_rule *r = &cfg->rules[i];
		sink += strlen(r->desc) + (r->host ? strlen(r->host) : 0) +
		        (r->name ? strlen(r->name) : 0) + r->n_ports + r->n_clients + r->n_dests;
		if (r->n_ports)
			sink += r->ports[r->n_ports - 1];
		if (r->n_dests)
			sink += r->dests[r->n_dests - 1].prefix;
		if (r->n_clients)
			sink += r->clients[r->n_clients - 1].prefix;
	}
	sink += cfg->listen[cfg->n_listen - 1].addrlen;
	sink += cfg->allow_clients[cfg->n_allow_clients - 1].prefix;
	if (cfg->events)
		sink += strlen(cfg->events);
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	struct sm_config *cfg = NULL;
	char err[256];
	int rc = sm_config_load_buffer("fuzz.yaml", data, size, &cfg, err, sizeof(err));
	if (rc != SM_OK) {
		if (cfg != NULL || err[0] == '\0')
			__builtin_trap();
		return 0;
	}
	walk(cfg);

	/* Exercise the policy on the loaded rules. */
	struct sm_policy_input in = {.host = "a.example.test", .host_len = 14, .port = 443};
	struct sm_policy_decision d;
	(void)sm_policy_decide_pre(cfg, &in, &d);

	/* The last line of the input, if it looks like key=value, as a --set. */
	const uint8_t *nl = size ? memrchr(data, '\n', size) : NULL;
	size_t off = nl ? (size_t)(nl - data) + 1 : 0;
	char kv[256];
	size_t n = size - off < sizeof(kv) - 1 ? size - off : sizeof(kv) - 1;
	memcpy(kv, data + off, n);
	kv[n] = '\0';
	if (memchr(kv, '=', strlen(kv))) {
		(void)sm_config_set(cfg, kv, err, sizeof(err));
		walk(cfg);
	}
	sm_config_free(cfg);
	return 0;
}
