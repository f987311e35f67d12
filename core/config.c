#include "core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_int.h"
#include "base/addr.h"
#include "base/result.h"
#include "telemetry/admin.h"

/* ---- arena: every allocation of a snapshot, freed at once ---- */

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct sm_config_arena {
	struct arena_chunk *head;
};

#define ARENA_CHUNK 16384u

/* Zeroed memory owned by the arena, or NULL. */
void *sm_config_arena_alloc(struct sm_config_arena *a, size_t n)
{
	if (n > SIZE_MAX / 4)
		return NULL;
	n = (n + 15u) & ~(size_t)15u;
	if (!a->head || a->head->cap - a->head->used < n) {
		size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		struct arena_chunk *c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
	}
	void *p = (unsigned char *)a->head->data + a->head->used;
	a->head->used += n;
	memset(p, 0, n);
	return p;
}

char *sm_config_arena_strndup(struct sm_config_arena *a, const char *s, size_t n)
{
	char *p = sm_config_arena_alloc(a, n + 1);
	if (p)
		memcpy(p, s, n);
	return p;
}

void sm_config_free(struct sm_config *cfg)
{
	if (!cfg)
		return;
	struct sm_config_arena *a = cfg->arena;
	struct arena_chunk *c = a->head;
	while (c) {
		struct arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	free(a);
}

/* ---- value parsers shared by the YAML loader and --set ----
 * Each returns true on success, or false with "expected ..." in msg. */

/* `"text"` with non-printables escaped, truncated to keep messages short. */
void sm_config_quote(const char *s, size_t len, char *out, size_t cap)
{
	size_t o = 0;
	const size_t max_shown = 48;
	if (cap < 8)
		return;
	out[o++] = '"';
	for (size_t i = 0; i < len && o + 8 < cap; i++) {
		if (i == max_shown) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			out[o++] = (char)c;
		} else {
			int n = snprintf(out + o, cap - o, "\\x%02x", c);
			if (n < 0 || (size_t)n >= cap - o)
				break;
			o += (size_t)n;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
}

static bool expected(char *msg, size_t cap, const char *s, size_t len, const char *what)
{
	char q[128];
	sm_config_quote(s, len, q, sizeof(q));
	snprintf(msg, cap, "expected %s, got %s", what, q);
	return false;
}

static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* "0", "1", "0.25", ".5", "1.0": plain decimal in [0, 1]. */
bool sm_config_parse_probability(const char *s, size_t len, double *out)
{
	char buf[32];
	size_t digits = 0, dots = 0;
	if (len == 0 || len >= sizeof(buf))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.')
			dots++;
		else if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else
			return false;
	}
	if (digits == 0 || dots > 1)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	double v = strtod(buf, NULL);
	if (!(v >= 0.0 && v <= 1.0))
		return false;
	*out = v;
	return true;
}

bool sm_config_parse_u32(const char *s, size_t len, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v < min || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

bool sm_config_parse_port(const char *s, size_t len, uint16_t *out, char *msg, size_t cap)
{
	uint32_t v;
	if (!sm_config_parse_u32(s, len, 1, 65535, &v))
		return expected(msg, cap, s, len, "an integer 1..65535");
	*out = (uint16_t)v;
	return true;
}

/* fault is a rule action only: it needs the rule's fault mapping. */
static bool parse_action(const char *s, size_t len, bool with_fault, enum sm_action *out, char *msg,
                         size_t cap)
{
	static const enum sm_action allowed[] = {SM_ACTION_TUNNEL, SM_ACTION_BLOCK,
	                                         SM_ACTION_INTERCEPT, SM_ACTION_FAULT};
	size_t n = sizeof(allowed) / sizeof(allowed[0]) - (with_fault ? 0 : 1);
	for (size_t i = 0; i < n; i++) {
		const char *name = sm_action_name(allowed[i]);
		if (strlen(name) == len && memcmp(name, s, len) == 0) {
			*out = allowed[i];
			return true;
		}
	}
	return expected(msg, cap, s, len,
	                with_fault ? "one of tunnel, block, intercept, fault"
	                           : "one of tunnel, block, intercept");
}

bool sm_config_parse_action(const char *s, size_t len, enum sm_action *out, char *msg, size_t cap)
{
	return parse_action(s, len, false, out, msg, cap);
}

bool sm_config_parse_rule_action(const char *s, size_t len, enum sm_action *out, char *msg,
                                 size_t cap)
{
	return parse_action(s, len, true, out, msg, cap);
}

/* RFC 9110 tchar. */
bool sm_config_is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

bool sm_config_parse_method(struct sm_config_arena *a, const char *s, size_t len, const char **out,
                            char *msg, size_t cap)
{
	const char *what = "an HTTP method token (case-sensitive, e.g. GET)";
	if (len == 0 || len > SM_CONFIG_MAX_METHOD)
		return expected(msg, cap, s, len, what);
	for (size_t i = 0; i < len; i++)
		if (!sm_config_is_tchar(s[i]))
			return expected(msg, cap, s, len, what);
	*out = sm_config_arena_strndup(a, s, len);
	if (!*out) {
		snprintf(msg, cap, "out of memory");
		return false;
	}
	return true;
}

/* Path glob: starts with '/' or '*'; visible ASCII without '?' and '#' (the
 * query is stripped before matching, a fragment is never sent). */
bool sm_config_parse_path(struct sm_config_arena *a, const char *s, size_t len, const char **out,
                          char *msg, size_t cap)
{
	const char *what = "a path glob starting with '/' or '*' (visible ASCII, no '?' or '#')";
	if (len == 0 || len > SM_CONFIG_MAX_URL_PATH || (s[0] != '/' && s[0] != '*'))
		return expected(msg, cap, s, len, what);
	for (size_t i = 0; i < len; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '?' || s[i] == '#')
			return expected(msg, cap, s, len, what);
	*out = sm_config_arena_strndup(a, s, len);
	if (!*out) {
		snprintf(msg, cap, "out of memory");
		return false;
	}
	return true;
}

bool sm_config_parse_listen(const char *s, size_t len, struct sm_config_listen *out, char *msg,
                            size_t cap)
{
	const char *what = "ADDR:PORT (IPv4 or [IPv6], port 0..65535, 0 = any free port)";
	char host[INET6_ADDRSTRLEN];
	const char *port;
	size_t hlen;
	memset(out, 0, sizeof(*out));
	if (len > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', len);
		if (!rb || rb + 1 >= s + len || rb[1] != ':')
			return expected(msg, cap, s, len, what);
		hlen = (size_t)(rb - s - 1);
		if (hlen >= sizeof(host))
			return expected(msg, cap, s, len, what);
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		port = rb + 2;
	} else {
		const char *colon = memchr(s, ':', len);
		if (!colon)
			return expected(msg, cap, s, len, what);
		hlen = (size_t)(colon - s);
		if (hlen >= sizeof(host))
			return expected(msg, cap, s, len, what);
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		port = colon + 1;
	}
	uint32_t p;
	if (!sm_config_parse_u32(port, (size_t)(s + len - port), 0, 65535, &p))
		return expected(msg, cap, s, len, what);
	if (s[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->addr;
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return expected(msg, cap, s, len, what);
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)p);
		out->addrlen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&out->addr;
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return expected(msg, cap, s, len, what);
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)p);
		out->addrlen = sizeof(*a);
	}
	return true;
}

bool sm_config_parse_cidr(const char *s, size_t len, struct sm_cidr *out, char *msg, size_t cap)
{
	enum sm_cidr_reason r = sm_cidr_parse(s, len, out);
	if (r == SM_CIDR_OK)
		return true;
	if (r == SM_CIDR_HOST_BITS_SET) {
		char q[128], norm[SM_CIDR_STRLEN];
		sm_config_quote(s, len, q, sizeof(q));
		if (sm_cidr_format(out, norm, sizeof(norm)) < 0)
			norm[0] = '\0';
		snprintf(msg, cap, "host bits set in %s (did you mean %s?)", q, norm);
		return false;
	}
	return expected(msg, cap, s, len, "a CIDR (IPv4 or IPv6 address, optional /LEN)");
}

/* Host glob: letters, digits and - . _ : * ; stored lower-case, without a
 * trailing dot (hosts are matched without theirs too). */
bool sm_config_parse_host(struct sm_config_arena *a, const char *s, size_t len, const char **out,
                          char *msg, size_t cap)
{
	const char *what = "a host name or glob (letters, digits, '-', '.', '_', ':', '*')";
	if (len == 0 || len > SM_CONFIG_MAX_HOST)
		return expected(msg, cap, s, len, what);
	char *h = sm_config_arena_strndup(a, s, len);
	if (!h) {
		snprintf(msg, cap, "out of memory");
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		          c == '.' || c == '_' || c == ':' || c == '*';
		if (!ok)
			return expected(msg, cap, s, len, what);
		h[i] = c;
	}
	if (len > 1 && h[len - 1] == '.')
		h[len - 1] = '\0'; /* "x.test." names the same host as "x.test" */
	*out = h;
	return true;
}

bool sm_config_parse_name(struct sm_config_arena *a, const char *s, size_t len, const char **out,
                          char *msg, size_t cap)
{
	const char *what = "a name of 1..128 printable ASCII characters";
	if (len == 0 || len > SM_CONFIG_MAX_NAME)
		return expected(msg, cap, s, len, what);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return expected(msg, cap, s, len, what);
	*out = sm_config_arena_strndup(a, s, len);
	if (!*out) {
		snprintf(msg, cap, "out of memory");
		return false;
	}
	return true;
}

/* ---- scalar keys: one table for the file and for --set ---- */

#define CFG_OFF(f) offsetof(struct sm_config, f)
#define DAY_MS     86400000u

const struct sm_config_key sm_config_keys[] = {
        {"threads", K_U32, CFG_OFF(threads), 0, SM_CONFIG_MAX_THREADS, true},
        {"allow_oversubscribe", K_BOOL, CFG_OFF(allow_oversubscribe), 0, 0, true},
        {"seed", K_U64, CFG_OFF(seed), 0, 0, true},
        {"default_action", K_ACTION, CFG_OFF(default_action), 0, 0, false},
        {"events", K_PATH, CFG_OFF(events), 0, 0, true},
        {"dns_servers", K_PATH, CFG_OFF(dns_servers), 0, 0, true},
        {"admin", K_ADDR, CFG_OFF(admin), 0, 0, true},
        {"tls.ca_dir", K_PATH, CFG_OFF(tls.ca_dir), 0, 0, true},
        {"strip_alt_svc_h3", K_BOOL, CFG_OFF(strip_alt_svc_h3), 0, 0, false},
        {"http2", K_BOOL, CFG_OFF(http2), 0, 0, false},
        {"http2_upstream_for_h1_clients", K_BOOL, CFG_OFF(http2_upstream_for_h1_clients), 0, 0,
         false},
        {"observe.sse", K_BOOL, CFG_OFF(observe.sse), 0, 0, false},
        {"observe.websocket", K_BOOL, CFG_OFF(observe.websocket), 0, 0, false},
        {"observe.grpc", K_BOOL, CFG_OFF(observe.grpc), 0, 0, false},
        {"observe.decoders", K_BOOL, CFG_OFF(observe.decoders), 0, 0, false},
        {"observe.whole_bodies", K_BOOL, CFG_OFF(observe.whole_bodies), 0, 0, false},
        {"observe.excerpt_bytes", K_U32, CFG_OFF(observe.excerpt_bytes), 0, 96, false},
        {"observe.max_message_bytes", K_U32, CFG_OFF(observe.max_message_bytes), 64, 1u << 26,
         false},
        {"tls.system_ca", K_PATH, CFG_OFF(tls.system_ca), 0, 0, true},
        {"tls.upstream_ca", K_PATH, CFG_OFF(tls.upstream_ca), 0, 0, true},
        {"tls.keylog", K_PATH, CFG_OFF(tls.keylog), 0, 0, true},
        {"tls.insecure_hosts", K_PATH, CFG_OFF(tls.insecure_hosts), 0, 0, false},
        {"tls.cert_cache_size", K_U32, CFG_OFF(tls.cert_cache_size), 16, 1u << 20, true},
        {"tls.handshake_timeout_ms", K_U32, CFG_OFF(tls.handshake_timeout_ms), 1, DAY_MS, false},
        {"tls.non_tls", K_ACTION, CFG_OFF(tls.non_tls), 0, 0, false},
        {"timeouts.connect_timeout_ms", K_U32, CFG_OFF(timeouts.connect_timeout_ms), 1, DAY_MS,
         false},
        {"timeouts.idle_timeout_ms", K_U32, CFG_OFF(timeouts.idle_timeout_ms), 1, DAY_MS, false},
        {"timeouts.dns_timeout_ms", K_U32, CFG_OFF(timeouts.dns_timeout_ms), 1, DAY_MS, true},
        {"timeouts.shutdown_grace_ms", K_U32, CFG_OFF(timeouts.shutdown_grace_ms), 0, DAY_MS,
         false},
        {"timeouts.drain_delay_ms", K_U32, CFG_OFF(timeouts.drain_delay_ms), 0, DAY_MS, false},
        {"timeouts.request_head_ms", K_U32, CFG_OFF(timeouts.request_head_ms), 1, DAY_MS, false},
        {"timeouts.upstream_response_ms", K_U32, CFG_OFF(timeouts.upstream_response_ms), 1, DAY_MS,
         false},
        {"limits.max_flows_per_thread", K_U32, CFG_OFF(limits.max_flows_per_thread), 1, 1u << 24,
         true},
        {"limits.max_header_bytes", K_U32, CFG_OFF(limits.max_header_bytes), 1024, 1u << 20, false},
        {"limits.event_ring_size", K_POW2, CFG_OFF(limits.event_ring_size), 64, 1u << 24, true},
        {"limits.send_chunks_per_thread", K_U32, CFG_OFF(limits.send_chunks_per_thread), 16, 65536,
         true},
        {"limits.recv_buffers_per_thread", K_POW2, CFG_OFF(limits.recv_buffers_per_thread), 16,
         32768, true},
};
#define N_SCALAR_KEYS (sizeof(sm_config_keys) / sizeof(sm_config_keys[0]))
const size_t sm_config_n_keys = N_SCALAR_KEYS;
_Static_assert(N_SCALAR_KEYS <= 56, "config_yaml.c keeps one bit per key in 56 bits");

int sm_config_section(const char *name, size_t len)
{
	for (size_t i = 0; i < N_SCALAR_KEYS; i++)
		if (strncmp(sm_config_keys[i].path, name, len) == 0 &&
		    sm_config_keys[i].path[len] == '.')
			return (int)i;
	return -1;
}

const struct sm_config_key *sm_config_find_key(const char *path, size_t len)
{
	for (size_t i = 0; i < N_SCALAR_KEYS; i++)
		if (strlen(sm_config_keys[i].path) == len &&
		    memcmp(sm_config_keys[i].path, path, len) == 0)
			return &sm_config_keys[i];
	return NULL;
}

/* Store a scalar value; is_null marks a YAML null (~, null, empty). */
bool sm_config_set_scalar(struct sm_config *cfg, const struct sm_config_key *k, const char *s,
                          size_t len, bool is_null, char *msg, size_t cap)
{
	char what[64];
	void *field = (char *)cfg + k->off;
	switch (k->kind) {
	case K_U32:
		snprintf(what, sizeof(what), "an integer %u..%u", k->min, k->max);
		if (!sm_config_parse_u32(s, len, k->min, k->max, field))
			return expected(msg, cap, s, len, what);
		return true;
	case K_POW2: {
		uint32_t v;
		snprintf(what, sizeof(what), "a power of two %u..%u", k->min, k->max);
		if (!sm_config_parse_u32(s, len, k->min, k->max, &v) || (v & (v - 1)) != 0)
			return expected(msg, cap, s, len, what);
		*(uint32_t *)field = v;
		return true;
	}
	case K_U64:
		if (!parse_u64(s, len, field))
			return expected(msg, cap, s, len,
			                "an integer 0..18446744073709551615 (0 = from the clock)");
		return true;
	case K_ACTION: return sm_config_parse_action(s, len, field, msg, cap);
	case K_BOOL: {
		static const char *const yes[] = {"true", "yes", "on", "1"};
		static const char *const no[] = {"false", "no", "off", "0"};
		for (size_t w = 0; w < 4; w++) {
			if (strlen(yes[w]) == len && memcmp(s, yes[w], len) == 0) {
				*(bool *)field = true;
				return true;
			}
			if (strlen(no[w]) == len && memcmp(s, no[w], len) == 0) {
				*(bool *)field = false;
				return true;
			}
		}
		return expected(msg, cap, s, len, "true or false");
	}
	case K_ADDR: {
		struct sm_config_listen l;
		if (is_null || len == 0) {
			*(const char **)field = NULL;
			return true;
		}
		if (!sm_config_parse_listen(s, len, &l, msg, cap))
			return false;
		*(const char **)field = sm_config_arena_strndup(cfg->arena, s, len);
		if (!*(const char **)field) {
			snprintf(msg, cap, "out of memory");
			return false;
		}
		return true;
	}
	case K_PATH:
		if (is_null || len == 0) {
			*(const char **)field = NULL;
			return true;
		}
		if (len > SM_CONFIG_MAX_PATH || memchr(s, '\0', len))
			return expected(msg, cap, s, len, "a file path or \"-\"");
		*(const char **)field = sm_config_arena_strndup(cfg->arena, s, len);
		if (!*(const char **)field) {
			snprintf(msg, cap, "out of memory");
			return false;
		}
		return true;
	}
	return false;
}

/* ---- defaults ---- */

struct sm_config *sm_config_new(const char *source)
{
	struct sm_config_arena *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	struct sm_config *cfg = sm_config_arena_alloc(a, sizeof(*cfg));
	if (!cfg) {
		free(a);
		return NULL;
	}
	cfg->arena = a;
	char msg[64];
	struct sm_config_listen *l = sm_config_arena_alloc(a, sizeof(*l));
	struct sm_cidr *allow = sm_config_arena_alloc(a, 2 * sizeof(*allow));
	cfg->source = sm_config_arena_strndup(a, source, strlen(source));
	if (!l || !allow || !cfg->source ||
	    !sm_config_parse_listen("127.0.0.1:8080", 14, l, msg, sizeof(msg)) ||
	    sm_cidr_parse("127.0.0.0/8", 11, &allow[0]) != SM_CIDR_OK ||
	    sm_cidr_parse("::1/128", 7, &allow[1]) != SM_CIDR_OK) {
		sm_config_free(cfg);
		return NULL;
	}
	cfg->listen = l;
	cfg->n_listen = 1;
	cfg->threads = 0;
	cfg->default_action = SM_ACTION_INTERCEPT;
	cfg->allow_clients = allow;
	cfg->n_allow_clients = 2;
	cfg->events = NULL;
	cfg->timeouts.connect_timeout_ms = 10000;
	cfg->timeouts.idle_timeout_ms = 300000;
	cfg->timeouts.dns_timeout_ms = 5000;
	cfg->timeouts.shutdown_grace_ms = 5000;
	cfg->timeouts.request_head_ms = 30000;
	cfg->timeouts.upstream_response_ms = 60000;
	cfg->limits.max_flows_per_thread = 65536;
	cfg->limits.max_header_bytes = 16384;
	cfg->limits.event_ring_size = 65536;
	cfg->limits.send_chunks_per_thread = 2048;
	cfg->limits.recv_buffers_per_thread = 512;
	cfg->tls.system_ca = "/etc/ssl/certs/ca-certificates.crt";
	cfg->tls.cert_cache_size = 1024;
	cfg->tls.handshake_timeout_ms = 10000;
	cfg->tls.non_tls = SM_ACTION_TUNNEL;
	cfg->observe.sse = cfg->observe.websocket = cfg->observe.grpc = true;
	cfg->observe.decoders = true;
	cfg->strip_alt_svc_h3 = true;
	cfg->http2 = true;
	cfg->observe.excerpt_bytes = 64;
	cfg->observe.max_message_bytes = 1u << 20;
	return cfg;
}

struct sm_config *sm_config_default(void)
{
	return sm_config_new("<default>");
}

/* ---- --set ---- */

static const char *trim(const char *s, size_t *len)
{
	while (*len > 0 && (s[0] == ' ' || s[0] == '\t')) {
		s++;
		(*len)--;
	}
	while (*len > 0 && (s[*len - 1] == ' ' || s[*len - 1] == '\t'))
		(*len)--;
	return s;
}

/* listen and allow_clients: comma-separated items replacing the list. */
static int set_list(struct sm_config *cfg, const char *key, const char *v, char *err, size_t errcap)
{
	bool is_listen = strcmp(key, "listen") == 0;
	size_t max = is_listen ? SM_CONFIG_MAX_LISTEN : SM_CONFIG_MAX_CIDRS;
	size_t n = 1;
	for (const char *p = v; *p; p++)
		n += *p == ',';
	if (n > max) {
		snprintf(err, errcap, "--set %s: too many items (at most %zu)", key, max);
		return SM_ERR_INVALID;
	}
	size_t esz = is_listen ? sizeof(struct sm_config_listen) : sizeof(struct sm_cidr);
	void *arr = sm_config_arena_alloc(cfg->arena, n * esz);
	if (!arr) {
		snprintf(err, errcap, "--set %s: out of memory", key);
		return SM_ERR_NOMEM;
	}
	const char *p = v;
	for (size_t i = 0; i < n; i++) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *item = trim(p, &len);
		char msg[256];
		bool ok = is_listen ? sm_config_parse_listen(item, len,
		                                             (struct sm_config_listen *)arr + i,
		                                             msg, sizeof(msg))
		                    : sm_config_parse_cidr(item, len, (struct sm_cidr *)arr + i,
		                                           msg, sizeof(msg));
		if (!ok) {
			snprintf(err, errcap, "--set %s: %s", key, msg);
			return SM_ERR_INVALID;
		}
		p = comma ? comma + 1 : p + len;
	}
	if (is_listen) {
		cfg->listen = arr;
		cfg->n_listen = n;
	} else {
		cfg->allow_clients = arr;
		cfg->n_allow_clients = n;
	}
	return SM_OK;
}

int sm_config_set(struct sm_config *cfg, const char *kv, char *err, size_t errcap)
{
	const char *eq = strchr(kv, '=');
	if (!eq) {
		char q[128];
		sm_config_quote(kv, strlen(kv), q, sizeof(q));
		snprintf(err, errcap, "--set %s: expected key=value", q);
		return SM_ERR_INVALID;
	}
	size_t klen = (size_t)(eq - kv);
	const char *key = trim(kv, &klen);
	char keybuf[64];
	if (klen == 0 || klen >= sizeof(keybuf)) {
		char q[128];
		sm_config_quote(kv, (size_t)(eq - kv), q, sizeof(q));
		snprintf(err, errcap, "--set %s: unknown key", q);
		return SM_ERR_INVALID;
	}
	memcpy(keybuf, key, klen);
	keybuf[klen] = '\0';
	const char *v = eq + 1;

	if (strcmp(keybuf, "listen") == 0 || strcmp(keybuf, "allow_clients") == 0)
		return set_list(cfg, keybuf, v, err, errcap);
	if (strcmp(keybuf, "rules") == 0 || strncmp(keybuf, "rules.", 6) == 0 ||
	    strncmp(keybuf, "rules[", 6) == 0) {
		snprintf(err, errcap, "--set %s: rules can only be set in the configuration file",
		         keybuf);
		return SM_ERR_INVALID;
	}
	const struct sm_config_key *k = sm_config_find_key(keybuf, klen);
	if (!k) {
		snprintf(err, errcap, "--set %s: unknown key", keybuf);
		return SM_ERR_INVALID;
	}
	size_t vlen = strlen(v);
	v = trim(v, &vlen);
	/* Parse into a copy so a failure leaves cfg unchanged. */
	struct sm_config tmp = *cfg;
	char msg[256];
	if (!sm_config_set_scalar(&tmp, k, v, vlen, false, msg, sizeof(msg))) {
		snprintf(err, errcap, "--set %s: %s", keybuf, msg);
		return SM_ERR_INVALID;
	}
	*cfg = tmp;
	return SM_OK;
}

int sm_config_load_file(const char *path, struct sm_config **out, char *err, size_t errcap)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errcap, "%s: cannot open: %s", path, strerror(errno));
		return SM_ERR_IO;
	}
	unsigned char *buf = malloc(SM_CONFIG_MAX_FILE_BYTES + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errcap, "%s: out of memory", path);
		return SM_ERR_NOMEM;
	}
	size_t n = fread(buf, 1, SM_CONFIG_MAX_FILE_BYTES + 1, f);
	int rc = SM_OK;
	if (ferror(f)) {
		snprintf(err, errcap, "%s: cannot read: %s", path, strerror(errno));
		rc = SM_ERR_IO;
	} else if (n > SM_CONFIG_MAX_FILE_BYTES) {
		snprintf(err, errcap, "%s: larger than %u bytes", path, SM_CONFIG_MAX_FILE_BYTES);
		rc = SM_ERR_LIMIT;
	}
	fclose(f);
	if (rc == SM_OK)
		rc = sm_config_load_buffer(path, buf, n, out, err, errcap);
	free(buf);
	return rc;
}

/* ---- warnings ---------------------------------------------------------------- */

static bool addr_is_loopback(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
	const struct in6_addr *v6 = &((const struct sockaddr_in6 *)a)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(v6) || (IN6_IS_ADDR_V4MAPPED(v6) && v6->s6_addr[12] == 127);
}

static bool allows_every(const struct sm_config *cfg, int family)
{
	for (size_t i = 0; i < cfg->n_allow_clients; i++)
		if (cfg->allow_clients[i].family == family && cfg->allow_clients[i].prefix == 0)
			return true;
	return false;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

static uint16_t addr_port(const struct sockaddr_storage *a)
{
	return ntohs(a->ss_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port
	                                     : ((const struct sockaddr_in6 *)a)->sin6_port);
}

size_t sm_config_warnings(const struct sm_config *cfg, void (*emit)(void *arg, const char *line),
                          void *arg)
{
	char line[512], a[SM_ADDR_MAX];
	size_t n = 0;
	for (size_t i = 0; i < cfg->n_listen; i++) {
		const struct sockaddr_storage *l = &cfg->listen[i].addr;
		if (addr_is_loopback(l) || !allows_every(cfg, l->ss_family))
			continue;
		sm_addr_format((const struct sockaddr *)l, a, sizeof(a));
		snprintf(line, sizeof(line),
		         "listener %s is not on a loopback address and allow_clients admits every "
		         "address (%s): anyone who can reach it may use the proxy",
		         a, l->ss_family == AF_INET ? "0.0.0.0/0" : "::/0");
		emit(arg, line), n++;
	}
	struct sockaddr_storage admin;
	socklen_t alen;
	if (cfg->admin && sm_admin_parse_addr(cfg->admin, &admin, &alen) == SM_OK &&
	    !addr_is_loopback(&admin)) {
		sm_addr_format((const struct sockaddr *)&admin, a, sizeof(a));
		snprintf(line, sizeof(line),
		         "admin endpoint %s is not on a loopback address: anyone who can reach it "
		         "reads /metrics (it has no authentication)",
		         a);
		emit(arg, line), n++;
	}
	for (const char *g = cfg->tls.insecure_hosts; g && *g;) {
		size_t len = strcspn(g, ",");
		if (len && strspn(g, "*") >= len) {
			snprintf(line, sizeof(line),
			         "tls.insecure_hosts \"%.*s\" matches every host: no upstream "
			         "certificate is verified",
			         (int)len, g);
			emit(arg, line), n++;
		}
		g += len + (g[len] == ',');
	}
	for (size_t i = 1; i < cfg->n_listen; i++) {
		const struct sockaddr_storage *l = &cfg->listen[i].addr;
		bool dup = false;
		for (size_t j = 0; j < i && !dup; j++)
			dup = addr_port(l) != 0 && same_addr(l, &cfg->listen[j].addr);
		if (!dup)
			continue;
		sm_addr_format((const struct sockaddr *)l, a, sizeof(a));
		snprintf(line, sizeof(line),
		         "listen address %s is given more than once: each copy is bound again "
		         "(SO_REUSEPORT)",
		         a);
		emit(arg, line), n++;
	}
	return n;
}

/* ---- reload ---- */

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_value(const struct sm_config_key *k, const struct sm_config *a,
                       const struct sm_config *b)
{
	const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;
	switch (k->kind) {
	case K_U32:
	case K_POW2: return *(const uint32_t *)pa == *(const uint32_t *)pb;
	case K_U64: return *(const uint64_t *)pa == *(const uint64_t *)pb;
	case K_ACTION: return *(const enum sm_action *)pa == *(const enum sm_action *)pb;
	case K_BOOL: return *(const bool *)pa == *(const bool *)pb;
	case K_PATH:
	case K_ADDR: return same_str(*(const char *const *)pa, *(const char *const *)pb);
	}
	return false;
}

size_t sm_config_restart_diff(const struct sm_config *a, const struct sm_config *b, char *out,
                              size_t cap)
{
	size_t n = 0, o = 0;
	if (cap)
		out[0] = 0;
	bool listen_same = a->n_listen == b->n_listen;
	for (size_t i = 0; listen_same && i < a->n_listen; i++)
		listen_same =
		        a->listen[i].addrlen == b->listen[i].addrlen &&
		        memcmp(&a->listen[i].addr, &b->listen[i].addr, a->listen[i].addrlen) == 0;
	for (size_t i = 0; i <= N_SCALAR_KEYS; i++) {
		const char *name = NULL;
		if (i == N_SCALAR_KEYS) {
			if (!listen_same)
				name = "listen";
		} else if (sm_config_keys[i].restart && !same_value(&sm_config_keys[i], a, b)) {
			name = sm_config_keys[i].path;
		}
		if (!name)
			continue;
		int w = snprintf(out + o, cap > o ? cap - o : 0, "%s%s", n ? ", " : "", name);
		if (w > 0 && o + (size_t)w < cap)
			o += (size_t)w;
		n++;
	}
	return n;
}

/* ---- check mode ---- */

void sm_config_dump(const struct sm_config *cfg, FILE *out)
{
	char buf[128];
	fprintf(out, "listen: [");
	for (size_t i = 0; i < cfg->n_listen; i++) {
		sm_addr_format((const struct sockaddr *)&cfg->listen[i].addr, buf, sizeof(buf));
		fprintf(out, "%s\"%s\"", i ? ", " : "", buf);
	}
	fprintf(out, "]\nallow_clients: [");
	for (size_t i = 0; i < cfg->n_allow_clients; i++) {
		sm_cidr_format(&cfg->allow_clients[i], buf, sizeof(buf));
		fprintf(out, "%s\"%s\"", i ? ", " : "", buf);
	}
	fprintf(out, "]\n");
	for (size_t i = 0; i < N_SCALAR_KEYS; i++) {
		const struct sm_config_key *k = &sm_config_keys[i];
		const char *p = (const char *)cfg + k->off;
		fprintf(out, "%s: ", k->path);
		switch (k->kind) {
		case K_U32:
		case K_POW2: fprintf(out, "%u", *(const uint32_t *)p); break;
		case K_U64: fprintf(out, "%llu", (unsigned long long)*(const uint64_t *)p); break;
		case K_ACTION:
			fprintf(out, "%s", sm_action_name(*(const enum sm_action *)p));
			break;
		case K_BOOL: fprintf(out, "%s", *(const bool *)p ? "true" : "false"); break;
		case K_PATH:
		case K_ADDR: {
			const char *v = *(const char *const *)p;
			if (v)
				fprintf(out, "\"%s\"", v);
			else
				fprintf(out, "null");
			break;
		}
		}
		fprintf(out, "%s\n", k->restart ? "  # a reload cannot change it" : "");
	}
	fprintf(out, "disable: [");
	for (int k = 0, n = 0; sm_config_switch_name(k); k++)
		if (cfg->disabled & (1u << k))
			fprintf(out, "%s%s", n++ ? ", " : "", sm_config_switch_name(k));
	fprintf(out, "]\n");
	fprintf(out, "rules: %zu (the first that matches decides)\n", cfg->n_rules);
	for (size_t i = 0; i < cfg->n_rules; i++)
		fprintf(out, "  - %s -> %s\n", cfg->rules[i].desc,
		        sm_action_name(cfg->rules[i].action));
}

/* ---- kill switches ---- */

static const struct {
	const char *name;
	size_t off; /* the bool it forces off */
} switches[] = {
        {"http2", CFG_OFF(http2)},
        {"http2_upstream_for_h1_clients", CFG_OFF(http2_upstream_for_h1_clients)},
        {"sse", CFG_OFF(observe.sse)},
        {"websocket", CFG_OFF(observe.websocket)},
        {"grpc", CFG_OFF(observe.grpc)},
        {"decoders", CFG_OFF(observe.decoders)},
        {"whole_bodies", CFG_OFF(observe.whole_bodies)},
        {"strip_alt_svc_h3", CFG_OFF(strip_alt_svc_h3)},
};

const char *sm_config_switch_name(int bit)
{
	return bit >= 0 && (size_t)bit < sizeof(switches) / sizeof(switches[0]) ? switches[bit].name
	                                                                        : NULL;
}

void sm_config_apply_disable(struct sm_config *cfg)
{
	for (size_t k = 0; k < sizeof(switches) / sizeof(switches[0]); k++)
		if (cfg->disabled & (1u << k))
			*(bool *)((char *)cfg + switches[k].off) = false;
	if (cfg->disabled & 1u) /* no HTTP/2 at all: not toward upstreams either */
		cfg->http2_upstream_for_h1_clients = false;
}
