/* Fuzz the YAML config loader from a memory buffer, then a --set built from
 * the tail of the input. Every accepted snapshot is walked (so ASan sees any
 * bad pointer) and freed (so LeakSanitizer sees any leak). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/config.h"
#include "core/policy.h"
#include "base/result.h"

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
		if (r->sni)
			sink += strlen(r->sni);
		if (r->path)
			sink += strlen(r->path);
		for (size_t m = 0; m < r->n_methods; m++)
			sink += strlen(r->methods[m]);
		if ((r->action == SM_ACTION_FAULT) != (r->fault != NULL))
			__builtin_trap();
		if (r->fault) {
			const struct sm_fault *f = r->fault;
			uint8_t buf[512];
			sink += f->status + f->delay_ms + f->body_len +
			        (f->body_len ? f->body[0] : 0);
			for (size_t h = 0; h < f->n_headers; h++)
				sink += strlen(f->headers[h].name) + strlen(f->headers[h].value);
			/* the rendered bytes agree with a fresh rendering */
			if (f->response_len > SM_FAULT_MAX_RESPONSE ||
			    sm_fault_response_size(f, NULL) != f->response_len)
				__builtin_trap();
			int n = sm_fault_response(f, buf, sizeof(buf));
			if (n >= 0 && ((size_t)n != f->response_len ||
			               (n > 0 && memcmp(buf, f->response, (size_t)n) != 0)))
				__builtin_trap();
		}
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
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000001)};
	in.dest = (const struct sockaddr *)&dst;
	in.sni = "a.example.test";
	in.sni_len = 14;
	in.roll = size;
	(void)sm_policy_decide_dest(cfg, &in, &d);
	if (sm_policy_decide_sni(cfg, &in, &d) != SM_OK)
		__builtin_trap();
	in.method = "GET";
	in.method_len = 3;
	in.path = "/v1/x?y=1";
	in.path_len = 9;
	if (sm_policy_decide_request(cfg, &in, &d) != SM_OK ||
	    (d.action == SM_ACTION_FAULT) != (d.fault != NULL))
		__builtin_trap();

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
