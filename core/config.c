#include "core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/result.h"

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
static void *arena_alloc(struct sm_config_arena *a, size_t n)
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

static char *arena_strndup(struct sm_config_arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
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

const char *sm_config_action_str(enum sm_action act)
{
	switch (act) {
	case SM_ACTION_TUNNEL: return "tunnel";
	case SM_ACTION_BLOCK: return "block";
	case SM_ACTION_INTERCEPT: return "intercept";
	case SM_ACTION_FAULT: return "fault";
	}
	return "unknown";
}

/* ---- value parsers shared by the YAML loader and --set ----
 * Each returns true on success, or false with "expected ..." in msg. */

/* `"text"` with non-printables escaped, truncated to keep messages short. */
static void quote(const char *s, size_t len, char *out, size_t cap)
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
	quote(s, len, q, sizeof(q));
	snprintf(msg, cap, "expected %s, got %s", what, q);
	return false;
}

static bool parse_u32(const char *s, size_t len, uint32_t min, uint32_t max, uint32_t *out)
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

static bool parse_port(const char *s, size_t len, uint16_t *out, char *msg, size_t cap)
{
	uint32_t v;
	if (!parse_u32(s, len, 1, 65535, &v))
		return expected(msg, cap, s, len, "an integer 1..65535");
	*out = (uint16_t)v;
	return true;
}

static bool parse_action(const char *s, size_t len, enum sm_action *out, char *msg, size_t cap)
{
	static const enum sm_action allowed[] = {SM_ACTION_TUNNEL, SM_ACTION_BLOCK,
	                                         SM_ACTION_INTERCEPT};
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		const char *name = sm_config_action_str(allowed[i]);
		if (strlen(name) == len && memcmp(name, s, len) == 0) {
			*out = allowed[i];
			return true;
		}
	}
	return expected(msg, cap, s, len, "one of tunnel, block, intercept");
}

static bool parse_listen(const char *s, size_t len, struct sm_config_listen *out, char *msg,
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
	if (!parse_u32(port, (size_t)(s + len - port), 0, 65535, &p))
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

static bool parse_cidr(const char *s, size_t len, struct sm_cidr *out, char *msg, size_t cap)
{
	enum sm_cidr_reason r = sm_cidr_parse(s, len, out);
	if (r == SM_CIDR_OK)
		return true;
	if (r == SM_CIDR_HOST_BITS_SET) {
		char q[128], norm[SM_CIDR_STRLEN];
		quote(s, len, q, sizeof(q));
		if (sm_cidr_format(out, norm, sizeof(norm)) < 0)
			norm[0] = '\0';
		snprintf(msg, cap, "host bits set in %s (did you mean %s?)", q, norm);
		return false;
	}
	return expected(msg, cap, s, len, "a CIDR (IPv4 or IPv6 address, optional /LEN)");
}

/* Host glob: letters, digits and - . _ : * ; stored lower-case. */
static bool parse_host(struct sm_config_arena *a, const char *s, size_t len, const char **out,
                       char *msg, size_t cap)
{
	const char *what = "a host name or glob (letters, digits, '-', '.', '_', ':', '*')";
	if (len == 0 || len > SM_CONFIG_MAX_HOST)
		return expected(msg, cap, s, len, what);
	char *h = arena_strndup(a, s, len);
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
	*out = h;
	return true;
}

static bool parse_name(struct sm_config_arena *a, const char *s, size_t len, const char **out,
                       char *msg, size_t cap)
{
	const char *what = "a name of 1..128 printable ASCII characters";
	if (len == 0 || len > SM_CONFIG_MAX_NAME)
		return expected(msg, cap, s, len, what);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return expected(msg, cap, s, len, what);
	*out = arena_strndup(a, s, len);
	if (!*out) {
		snprintf(msg, cap, "out of memory");
		return false;
	}
	return true;
}

/* ---- scalar keys: one table for the file and for --set ---- */

enum key_kind {
	K_U32,    /* uint32_t in [min, max] */
	K_POW2,   /* uint32_t power of two in [min, max] */
	K_ACTION, /* enum sm_action */
	K_PATH,   /* const char *; empty or null = NULL */
};

struct key_desc {
	const char *path; /* dotted, as in --set */
	enum key_kind kind;
	size_t off;
	uint32_t min, max;
};

#define CFG_OFF(f) offsetof(struct sm_config, f)
#define DAY_MS     86400000u

static const struct key_desc scalar_keys[] = {
        {"threads", K_U32, CFG_OFF(threads), 0, 1024},
        {"default_action", K_ACTION, CFG_OFF(default_action), 0, 0},
        {"events", K_PATH, CFG_OFF(events), 0, 0},
        {"dns_servers", K_PATH, CFG_OFF(dns_servers), 0, 0},
        {"timeouts.connect_timeout_ms", K_U32, CFG_OFF(timeouts.connect_timeout_ms), 1, DAY_MS},
        {"timeouts.idle_timeout_ms", K_U32, CFG_OFF(timeouts.idle_timeout_ms), 1, DAY_MS},
        {"timeouts.dns_timeout_ms", K_U32, CFG_OFF(timeouts.dns_timeout_ms), 1, DAY_MS},
        {"timeouts.shutdown_grace_ms", K_U32, CFG_OFF(timeouts.shutdown_grace_ms), 0, DAY_MS},
        {"limits.max_flows_per_thread", K_U32, CFG_OFF(limits.max_flows_per_thread), 1, 1u << 24},
        {"limits.max_header_bytes", K_U32, CFG_OFF(limits.max_header_bytes), 1024, 1u << 20},
        {"limits.event_ring_size", K_POW2, CFG_OFF(limits.event_ring_size), 64, 1u << 24},
};
#define N_SCALAR_KEYS (sizeof(scalar_keys) / sizeof(scalar_keys[0]))

static const struct key_desc *find_key(const char *path, size_t len)
{
	for (size_t i = 0; i < N_SCALAR_KEYS; i++)
		if (strlen(scalar_keys[i].path) == len &&
		    memcmp(scalar_keys[i].path, path, len) == 0)
			return &scalar_keys[i];
	return NULL;
}

/* Store a scalar value; is_null marks a YAML null (~, null, empty). */
static bool set_scalar(struct sm_config *cfg, const struct key_desc *k, const char *s, size_t len,
                       bool is_null, char *msg, size_t cap)
{
	char what[64];
	void *field = (char *)cfg + k->off;
	switch (k->kind) {
	case K_U32:
		snprintf(what, sizeof(what), "an integer %u..%u", k->min, k->max);
		if (!parse_u32(s, len, k->min, k->max, field))
			return expected(msg, cap, s, len, what);
		return true;
	case K_POW2: {
		uint32_t v;
		snprintf(what, sizeof(what), "a power of two %u..%u", k->min, k->max);
		if (!parse_u32(s, len, k->min, k->max, &v) || (v & (v - 1)) != 0)
			return expected(msg, cap, s, len, what);
		*(uint32_t *)field = v;
		return true;
	}
	case K_ACTION: return parse_action(s, len, field, msg, cap);
	case K_PATH:
		if (is_null || len == 0) {
			*(const char **)field = NULL;
			return true;
		}
		if (len > SM_CONFIG_MAX_PATH || memchr(s, '\0', len))
			return expected(msg, cap, s, len, "a file path or \"-\"");
		*(const char **)field = arena_strndup(cfg->arena, s, len);
		if (!*(const char **)field) {
			snprintf(msg, cap, "out of memory");
			return false;
		}
		return true;
	}
	return false;
}

/* ---- defaults ---- */

static struct sm_config *config_new(const char *source)
{
	struct sm_config_arena *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	struct sm_config *cfg = arena_alloc(a, sizeof(*cfg));
	if (!cfg) {
		free(a);
		return NULL;
	}
	cfg->arena = a;
	char msg[64];
	struct sm_config_listen *l = arena_alloc(a, sizeof(*l));
	struct sm_cidr *allow = arena_alloc(a, 2 * sizeof(*allow));
	cfg->source = arena_strndup(a, source, strlen(source));
	if (!l || !allow || !cfg->source ||
	    !parse_listen("127.0.0.1:8080", 14, l, msg, sizeof(msg)) ||
	    sm_cidr_parse("127.0.0.0/8", 11, &allow[0]) != SM_CIDR_OK ||
	    sm_cidr_parse("::1/128", 7, &allow[1]) != SM_CIDR_OK) {
		sm_config_free(cfg);
		return NULL;
	}
	cfg->listen = l;
	cfg->n_listen = 1;
	cfg->threads = 0;
	cfg->default_action = SM_ACTION_TUNNEL;
	cfg->allow_clients = allow;
	cfg->n_allow_clients = 2;
	cfg->events = NULL;
	cfg->timeouts.connect_timeout_ms = 10000;
	cfg->timeouts.idle_timeout_ms = 300000;
	cfg->timeouts.dns_timeout_ms = 5000;
	cfg->timeouts.shutdown_grace_ms = 5000;
	cfg->limits.max_flows_per_thread = 65536;
	cfg->limits.max_header_bytes = 16384;
	cfg->limits.event_ring_size = 65536;
	return cfg;
}

struct sm_config *sm_config_default(void)
{
	return config_new("<default>");
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
	void *arr = arena_alloc(cfg->arena, n * esz);
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
		bool ok = is_listen ? parse_listen(item, len, (struct sm_config_listen *)arr + i,
		                                   msg, sizeof(msg))
		                    : parse_cidr(item, len, (struct sm_cidr *)arr + i, msg,
		                                 sizeof(msg));
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
		quote(kv, strlen(kv), q, sizeof(q));
		snprintf(err, errcap, "--set %s: expected key=value", q);
		return SM_ERR_INVALID;
	}
	size_t klen = (size_t)(eq - kv);
	const char *key = trim(kv, &klen);
	char keybuf[64];
	if (klen == 0 || klen >= sizeof(keybuf)) {
		char q[128];
		quote(kv, (size_t)(eq - kv), q, sizeof(q));
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
	const struct key_desc *k = find_key(keybuf, klen);
	if (!k) {
		snprintf(err, errcap, "--set %s: unknown key", keybuf);
		return SM_ERR_INVALID;
	}
	size_t vlen = strlen(v);
	v = trim(v, &vlen);
	/* Parse into a copy so a failure leaves cfg unchanged. */
	struct sm_config tmp = *cfg;
	char msg[256];
	if (!set_scalar(&tmp, k, v, vlen, false, msg, sizeof(msg))) {
		snprintf(err, errcap, "--set %s: %s", keybuf, msg);
		return SM_ERR_INVALID;
	}
	*cfg = tmp;
	return SM_OK;
}

/* ---- YAML loader ---- */

struct loader {
	const char *name;
	yaml_document_t *doc;
	struct sm_config *cfg;
	unsigned char *visited; /* per node: seen once already (aliases are refused) */
	char *err;
	size_t errcap;
};

/* "name:line:col: path: message"; path may be NULL. Returns SM_ERR_INVALID. */
static int fail(struct loader *L, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strcmp(msg, "out of memory") == 0) {
		snprintf(L->err, L->errcap, "%s: out of memory", L->name);
		return SM_ERR_NOMEM;
	}
	snprintf(L->err, L->errcap, "%s:%zu:%zu: %s%s%s", L->name, n->start_mark.line + 1,
	         n->start_mark.column + 1, path ? path : "", path ? ": " : "", msg);
	return SM_ERR_INVALID;
}

static yaml_node_t *node_at(struct loader *L, int idx)
{
	return yaml_document_get_node(L->doc, idx);
}

/* Each node may be walked once: a second visit means an alias, and aliases
 * would let a small file expand into a huge rule set. */
static int visit(struct loader *L, yaml_node_t *n, const char *path)
{
	size_t idx = (size_t)(n - L->doc->nodes.start);
	if (L->visited[idx])
		return fail(L, n, path, "anchors and aliases are not supported");
	L->visited[idx] = 1;
	return SM_OK;
}

static const char *kind_str(const yaml_node_t *n)
{
	return n->type == YAML_MAPPING_NODE ? "a mapping" : "a sequence";
}

static bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	return len == 0 || (len == 1 && s[0] == '~') ||
	       (len == 4 &&
	        (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4)));
}

#define SCALAR(n) ((const char *)(n)->data.scalar.value), ((n)->data.scalar.length)

/* A key as it may appear in a message: itself if tame, quoted otherwise. */
static void key_text(const yaml_node_t *k, char *out, size_t cap)
{
	const char *s = (const char *)k->data.scalar.value;
	size_t len = k->data.scalar.length;
	bool tame = len > 0 && len <= 48;
	for (size_t i = 0; tame && i < len; i++)
		tame = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		       (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.';
	if (tame)
		snprintf(out, cap, "%.*s", (int)len, s);
	else
		quote(s, len, out, cap);
}

typedef bool (*item_fn)(struct loader *L, void *slot, const char *s, size_t len, char *msg,
                        size_t cap);

static bool item_listen(struct loader *L, void *slot, const char *s, size_t len, char *msg,
                        size_t cap)
{
	return parse_listen(s, len, slot, msg, cap);
}

static bool item_cidr(struct loader *L, void *slot, const char *s, size_t len, char *msg,
                      size_t cap)
{
	return parse_cidr(s, len, slot, msg, cap);
}

static bool item_port(struct loader *L, void *slot, const char *s, size_t len, char *msg,
                      size_t cap)
{
	return parse_port(s, len, slot, msg, cap);
}

/* A scalar (one item) or a sequence of scalars into a new arena array. */
static int load_list(struct loader *L, yaml_node_t *n, const char *path, const char *what,
                     size_t max, size_t esz, item_fn fn, void **arr, size_t *count)
{
	char msg[256], ipath[96];
	size_t nitems =
	        n->type == YAML_SEQUENCE_NODE
	                ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
	                : 1;
	if (n->type == YAML_MAPPING_NODE || is_null(n) || nitems == 0)
		return fail(L, n, path, "expected %s or a non-empty list of them, got %s", what,
		            n->type == YAML_MAPPING_NODE ? "a mapping" : "nothing");
	if (nitems > max)
		return fail(L, n, path, "too many items (at most %zu)", max);
	unsigned char *a = arena_alloc(L->cfg->arena, nitems * esz);
	if (!a)
		return fail(L, n, path, "out of memory");
	for (size_t i = 0; i < nitems; i++) {
		yaml_node_t *it = n;
		const char *p = path;
		if (n->type == YAML_SEQUENCE_NODE) {
			snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
			p = ipath;
			it = node_at(L, n->data.sequence.items.start[i]);
			int rc = visit(L, it, p);
			if (rc)
				return rc;
		}
		if (it->type != YAML_SCALAR_NODE)
			return fail(L, it, p, "expected %s, got %s", what, kind_str(it));
		if (!fn(L, a + i * esz, SCALAR(it), msg, sizeof(msg)))
			return fail(L, it, p, "%s", msg);
	}
	*arr = a;
	*count = nitems;
	return SM_OK;
}

static void append(char *buf, size_t cap, size_t *o, const char *fmt, ...)
{
	if (*o >= cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *o, cap - *o, fmt, ap);
	va_end(ap);
	if (n > 0)
		*o += (size_t)n < cap - *o ? (size_t)n : cap - *o - 1;
}

static void append_cidrs(char *buf, size_t cap, size_t *o, const char *label,
                         const struct sm_cidr *c, size_t n)
{
	char t[SM_CIDR_STRLEN];
	if (n == 0)
		return;
	append(buf, cap, o, " %s ", label);
	for (size_t i = 0; i < n && i < 2; i++) {
		if (sm_cidr_format(&c[i], t, sizeof(t)) < 0)
			t[0] = '\0';
		append(buf, cap, o, "%s%s", i ? "," : "", t);
	}
	if (n > 2)
		append(buf, cap, o, ",...");
}

static const char *rule_desc(struct sm_config_arena *a, size_t idx, const struct sm_rule *r)
{
	char buf[512];
	size_t o = 0;
	append(buf, sizeof(buf), &o, "rules[%zu]", idx);
	if (r->host)
		append(buf, sizeof(buf), &o, " host \"%s\"", r->host);
	if (r->n_ports) {
		append(buf, sizeof(buf), &o, " port ");
		for (size_t i = 0; i < r->n_ports && i < 4; i++)
			append(buf, sizeof(buf), &o, "%s%u", i ? "," : "", (unsigned)r->ports[i]);
		if (r->n_ports > 4)
			append(buf, sizeof(buf), &o, ",...");
	}
	append_cidrs(buf, sizeof(buf), &o, "client", r->clients, r->n_clients);
	append_cidrs(buf, sizeof(buf), &o, "dest", r->dests, r->n_dests);
	return arena_strndup(a, buf, o);
}

enum { RK_HOST, RK_PORT, RK_CLIENT, RK_DEST, RK_NAME, RK_ACTION, RK_COUNT };
static const char *const rule_keys[RK_COUNT] = {"host", "port", "client", "dest", "name", "action"};

static int load_rule(struct loader *L, yaml_node_t *n, size_t idx, struct sm_rule *r)
{
	char path[64], kpath[200], msg[256], kt[128];
	snprintf(path, sizeof(path), "rules[%zu]", idx);
	if (n->type != YAML_MAPPING_NODE)
		return fail(L, n, path, "expected a mapping with an action, got %s",
		            n->type == YAML_SCALAR_NODE ? "a scalar" : kind_str(n));
	unsigned seen = 0;
	struct sm_config_arena *a = L->cfg->arena;
	r->line = (unsigned)n->start_mark.line + 1;
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = node_at(L, pr->key), *v = node_at(L, pr->value);
		int rc = visit(L, k, path);
		if (rc == SM_OK)
			rc = visit(L, v, path);
		if (rc)
			return rc;
		if (k->type != YAML_SCALAR_NODE)
			return fail(L, k, path, "expected a key name, got %s", kind_str(k));
		key_text(k, kt, sizeof(kt));
		snprintf(kpath, sizeof(kpath), "%s.%s", path, kt);
		int which = -1;
		for (int i = 0; i < RK_COUNT; i++)
			if (strlen(rule_keys[i]) == k->data.scalar.length &&
			    !memcmp(rule_keys[i], k->data.scalar.value, k->data.scalar.length))
				which = i;
		if (which < 0)
			return fail(L, k, kpath, "unknown key");
		if (seen & (1u << which))
			return fail(L, k, kpath, "duplicate key");
		seen |= 1u << which;
		void *arr = NULL;
		switch (which) {
		case RK_PORT:
			rc = load_list(L, v, kpath, "an integer 1..65535", SM_CONFIG_MAX_PORTS,
			               sizeof(uint16_t), item_port, &arr, &r->n_ports);
			r->ports = arr;
			break;
		case RK_CLIENT:
		case RK_DEST:
			rc = load_list(L, v, kpath, "a CIDR", SM_CONFIG_MAX_CIDRS,
			               sizeof(struct sm_cidr), item_cidr, &arr,
			               which == RK_CLIENT ? &r->n_clients : &r->n_dests);
			if (which == RK_CLIENT)
				r->clients = arr;
			else
				r->dests = arr;
			break;
		default: {
			static const char *const what[RK_COUNT] = {
			        [RK_HOST] = "a host name or glob",
			        [RK_NAME] = "a name",
			        [RK_ACTION] = "one of tunnel, block, intercept"};
			if (v->type != YAML_SCALAR_NODE)
				return fail(L, v, kpath, "expected %s, got %s", what[which],
				            kind_str(v));
			bool ok = which == RK_HOST
			                  ? parse_host(a, SCALAR(v), &r->host, msg, sizeof(msg))
			          : which == RK_NAME
			                  ? parse_name(a, SCALAR(v), &r->name, msg, sizeof(msg))
			                  : parse_action(SCALAR(v), &r->action, msg, sizeof(msg));
			if (!ok)
				return fail(L, v, kpath, "%s", msg);
		}
		}
		if (rc)
			return rc;
	}
	if (!(seen & (1u << RK_ACTION)))
		return fail(L, n, path, "missing required key \"action\"");
	r->desc = rule_desc(a, idx, r);
	if (!r->desc)
		return fail(L, n, path, "out of memory");
	return SM_OK;
}

static int load_rules(struct loader *L, yaml_node_t *n)
{
	if (is_null(n))
		return SM_OK;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(L, n, "rules", "expected a list of rules, got %s",
		            n->type == YAML_SCALAR_NODE ? "a scalar" : kind_str(n));
	size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count > SM_CONFIG_MAX_RULES)
		return fail(L, n, "rules", "too many rules (at most %u)", SM_CONFIG_MAX_RULES);
	struct sm_rule *rules = arena_alloc(L->cfg->arena, count * sizeof(*rules));
	if (!rules && count)
		return fail(L, n, "rules", "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *it = node_at(L, n->data.sequence.items.start[i]);
		char path[64];
		snprintf(path, sizeof(path), "rules[%zu]", i);
		int rc = visit(L, it, path);
		if (rc == SM_OK)
			rc = load_rule(L, it, i, &rules[i]);
		if (rc)
			return rc;
	}
	L->cfg->rules = rules;
	L->cfg->n_rules = count;
	return SM_OK;
}

/* A mapping of scalar keys; section is "" at the top level or "timeouts" /
 * "limits" (then only keys "<section>.<x>" of the table are accepted). */
static int load_mapping(struct loader *L, yaml_node_t *n, const char *section)
{
	char kt[128], path[192], msg[256];
	uint64_t seen = 0; /* bit i: scalar_keys[i]; bits 60..63: list and section keys */
	if (n->type != YAML_MAPPING_NODE)
		return fail(L, n, *section ? section : NULL, "expected a mapping of keys, got %s",
		            n->type == YAML_SCALAR_NODE ? "a scalar" : kind_str(n));
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = node_at(L, pr->key), *v = node_at(L, pr->value);
		int rc = visit(L, k, *section ? section : NULL);
		if (rc == SM_OK)
			rc = visit(L, v, *section ? section : NULL);
		if (rc)
			return rc;
		if (k->type != YAML_SCALAR_NODE)
			return fail(L, k, *section ? section : NULL, "expected a key name, got %s",
			            kind_str(k));
		key_text(k, kt, sizeof(kt));
		snprintf(path, sizeof(path), "%s%s%s", section, *section ? "." : "", kt);
		static const char *const special[] = {"listen", "allow_clients", "rules",
		                                      "timeouts", "limits"};
		int bit = -1;
		const struct key_desc *kd = NULL;
		if (!*section)
			for (int i = 0; i < 5; i++)
				if (strcmp(path, special[i]) == 0)
					bit = 59 + i;
		if (bit < 0 && !memchr(k->data.scalar.value, '.', k->data.scalar.length)) {
			kd = find_key(path, strlen(path));
			if (kd)
				bit = (int)(kd - scalar_keys);
		}
		if (bit < 0)
			return fail(L, k, path, "unknown key");
		if (seen & (UINT64_C(1) << bit))
			return fail(L, k, path, "duplicate key");
		seen |= UINT64_C(1) << bit;

		void *arr = NULL;
		if (kd) {
			if (v->type != YAML_SCALAR_NODE)
				return fail(L, v, path, "expected a scalar value, got %s",
				            kind_str(v));
			if (!set_scalar(L->cfg, kd, SCALAR(v), is_null(v), msg, sizeof(msg)))
				return fail(L, v, path, "%s", msg);
		} else if (bit == 59) {
			rc = load_list(L, v, path, "ADDR:PORT", SM_CONFIG_MAX_LISTEN,
			               sizeof(struct sm_config_listen), item_listen, &arr,
			               &L->cfg->n_listen);
			if (rc == SM_OK)
				L->cfg->listen = arr;
		} else if (bit == 60) {
			rc = load_list(L, v, path, "a CIDR", SM_CONFIG_MAX_CIDRS,
			               sizeof(struct sm_cidr), item_cidr, &arr,
			               &L->cfg->n_allow_clients);
			if (rc == SM_OK)
				L->cfg->allow_clients = arr;
		} else if (bit == 61) {
			rc = load_rules(L, v);
		} else {
			rc = load_mapping(L, v, path);
		}
		if (rc)
			return rc;
	}
	return SM_OK;
}

/* libyaml's own error, with its 0-based mark made 1-based. */
static int syntax_error(struct loader *L, const yaml_parser_t *p, const unsigned char *buf,
                        size_t len)
{
	if (p->error == YAML_MEMORY_ERROR) {
		snprintf(L->err, L->errcap, "%s: out of memory", L->name);
		return SM_ERR_NOMEM;
	}
	size_t line = p->problem_mark.line + 1, col = p->problem_mark.column + 1;
	if (p->error == YAML_READER_ERROR) {
		/* The reader reports a byte offset, not a mark. */
		line = 1;
		col = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++) {
			if (buf[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
	}
	const char *problem = p->problem ? p->problem : "unknown error";
	if (p->context)
		snprintf(L->err, L->errcap, "%s:%zu:%zu: syntax error: %s (%s at line %zu)",
		         L->name, line, col, problem, p->context, p->context_mark.line + 1);
	else
		snprintf(L->err, L->errcap, "%s:%zu:%zu: syntax error: %s", L->name, line, col,
		         problem);
	return SM_ERR_INVALID;
}

int sm_config_load_buffer(const char *name, const void *buf, size_t len, struct sm_config **out,
                          char *err, size_t errcap)
{
	*out = NULL;
	if (errcap)
		err[0] = '\0';
	struct loader L = {.name = name, .err = err, .errcap = errcap};
	L.cfg = config_new(name);
	yaml_parser_t parser;
	if (!L.cfg || !yaml_parser_initialize(&parser)) {
		sm_config_free(L.cfg);
		snprintf(err, errcap, "%s: out of memory", name);
		return SM_ERR_NOMEM;
	}
	yaml_parser_set_input_string(&parser, buf, len);
	yaml_document_t doc;
	int rc = SM_OK;
	if (!yaml_parser_load(&parser, &doc)) {
		rc = syntax_error(&L, &parser, buf, len);
		goto out_parser;
	}
	L.doc = &doc;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (root && is_null(root))
		root = NULL; /* "---" alone: an empty document */
	if (root) {
		L.visited = calloc((size_t)(doc.nodes.top - doc.nodes.start), 1);
		if (!L.visited) {
			snprintf(err, errcap, "%s: out of memory", name);
			rc = SM_ERR_NOMEM;
		} else {
			L.visited[root - doc.nodes.start] = 1;
			rc = load_mapping(&L, root, "");
		}
		free(L.visited);
	}
	if (rc == SM_OK) {
		yaml_document_t next;
		if (!yaml_parser_load(&parser, &next)) {
			rc = syntax_error(&L, &parser, buf, len);
		} else {
			yaml_node_t *r2 = yaml_document_get_root_node(&next);
			if (r2)
				rc = fail(&L, r2, NULL, "expected a single YAML document");
			yaml_document_delete(&next);
		}
	}
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	if (rc) {
		sm_config_free(L.cfg);
		return rc;
	}
	*out = L.cfg;
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
