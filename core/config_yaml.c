/* The YAML half of core/config: walks a libyaml document tree against the
 * schema in docs/config.md, reporting file:line:col on the first error. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/config.h"
#include "core/config_int.h"
#include "base/result.h"

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
	/* The value parsers report allocation failure as this exact text. */
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
		sm_config_quote(s, len, out, cap);
}

/* One mapping pair: visits its key and value (aliases, depth) and requires
 * a scalar key ("expected a <what>, got ..."). SM_OK with *k and *v set. */
static int pair_nodes(struct loader *L, const yaml_node_pair_t *pr, const char *path,
                      const char *what, yaml_node_t **k, yaml_node_t **v)
{
	*k = node_at(L, pr->key);
	*v = node_at(L, pr->value);
	int rc = visit(L, *k, path);
	if (rc == SM_OK)
		rc = visit(L, *v, path);
	if (rc)
		return rc;
	if ((*k)->type != YAML_SCALAR_NODE)
		return fail(L, *k, path, "expected a %s, got %s", what, kind_str(*k));
	return SM_OK;
}

/* Index of the scalar key k in keys[0..n), or -1. */
static int key_index(const char *const *keys, int n, const yaml_node_t *k)
{
	for (int i = 0; i < n; i++)
		if (strlen(keys[i]) == k->data.scalar.length &&
		    !memcmp(keys[i], k->data.scalar.value, k->data.scalar.length))
			return i;
	return -1;
}

typedef bool (*item_fn)(struct loader *L, void *slot, const char *s, size_t len, char *msg,
                        size_t cap);

static bool item_listen(struct loader *L, void *slot, const char *s, size_t len, char *msg,
                        size_t cap)
{
	return sm_config_parse_listen(s, len, slot, msg, cap);
}

static bool item_cidr(struct loader *L, void *slot, const char *s, size_t len, char *msg,
                      size_t cap)
{
	return sm_config_parse_cidr(s, len, slot, msg, cap);
}

static bool item_port(struct loader *L, void *slot, const char *s, size_t len, char *msg,
                      size_t cap)
{
	return sm_config_parse_port(s, len, slot, msg, cap);
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
	unsigned char *a = sm_config_arena_alloc(L->cfg->arena, nitems * esz);
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
	if (r->name)
		append(buf, sizeof(buf), &o, " \"%.64s\"", r->name);
	if (r->host)
		append(buf, sizeof(buf), &o, " host \"%.64s\"", r->host);
	if (r->sni)
		append(buf, sizeof(buf), &o, " sni \"%.64s\"", r->sni);
	if (r->n_ports) {
		append(buf, sizeof(buf), &o, " port ");
		for (size_t i = 0; i < r->n_ports && i < 4; i++)
			append(buf, sizeof(buf), &o, "%s%u", i ? "," : "", (unsigned)r->ports[i]);
		if (r->n_ports > 4)
			append(buf, sizeof(buf), &o, ",...");
	}
	append_cidrs(buf, sizeof(buf), &o, "client", r->clients, r->n_clients);
	append_cidrs(buf, sizeof(buf), &o, "dest", r->dests, r->n_dests);
	if (r->n_methods) {
		append(buf, sizeof(buf), &o, " method ");
		for (size_t i = 0; i < r->n_methods && i < 4; i++)
			append(buf, sizeof(buf), &o, "%s%s", i ? "," : "", r->methods[i]);
		if (r->n_methods > 4)
			append(buf, sizeof(buf), &o, ",...");
	}
	if (r->path)
		append(buf, sizeof(buf), &o, " path \"%.64s\"", r->path);
	return sm_config_arena_strndup(a, buf, o);
}

static bool item_method(struct loader *L, void *slot, const char *s, size_t len, char *msg,
                        size_t cap)
{
	return sm_config_parse_method(L->cfg->arena, s, len, slot, msg, cap);
}

/* Header values: SP, HTAB, VCHAR, obs-text; never CR, LF, NUL or DEL. */
static bool field_value_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static bool same_name(const char *a, size_t alen, const char *b)
{
	if (strlen(b) != alen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

static int load_fault_headers(struct loader *L, yaml_node_t *n, const char *path,
                              struct sm_fault *f)
{
	char hpath[300], kt[128];
	if (n->type != YAML_MAPPING_NODE)
		return fail(L, n, path, "expected a mapping of header names to values, got %s",
		            n->type == YAML_SCALAR_NODE ? "a scalar" : kind_str(n));
	size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (count > SM_FAULT_MAX_HEADERS)
		return fail(L, n, path, "too many headers (at most %u)", SM_FAULT_MAX_HEADERS);
	struct sm_fault_header *h = sm_config_arena_alloc(L->cfg->arena, (count + 1) * sizeof(*h));
	if (!h)
		return fail(L, n, path, "out of memory");
	for (size_t i = 0; i < count; i++) {
		yaml_node_t *k, *v;
		int rc =
		        pair_nodes(L, &n->data.mapping.pairs.start[i], path, "header name", &k, &v);
		if (rc)
			return rc;
		const char *name = (const char *)k->data.scalar.value;
		size_t nlen = k->data.scalar.length;
		key_text(k, kt, sizeof(kt));
		snprintf(hpath, sizeof(hpath), "%.150s.%s", path, kt);
		bool ok = nlen > 0 && nlen <= SM_FAULT_MAX_HEADER_NAME;
		for (size_t c = 0; ok && c < nlen; c++)
			ok = sm_config_is_tchar(name[c]);
		if (!ok)
			return fail(L, k, hpath, "expected a header name (1..%u token characters)",
			            SM_FAULT_MAX_HEADER_NAME);
		if (same_name(name, nlen, "content-type"))
			return fail(L, k, hpath, "set the content type with fault.content_type");
		if (sm_fault_header_reserved(name, nlen))
			return fail(L, k, hpath,
			            "set by the proxy (framing and connection headers "
			            "cannot be faked)");
		for (size_t j = 0; j < i; j++)
			if (same_name(name, nlen, h[j].name))
				return fail(L, k, hpath, "duplicate header");
		if (v->type != YAML_SCALAR_NODE)
			return fail(L, v, hpath, "expected a header value, got %s", kind_str(v));
		const char *val = (const char *)v->data.scalar.value;
		size_t vlen = v->data.scalar.length;
		if (vlen > SM_FAULT_MAX_HEADER_VALUE || !field_value_ok(val, vlen)) {
			char q[128];
			sm_config_quote(val, vlen, q, sizeof(q));
			return fail(L, v, hpath,
			            "expected a header value of at most %u bytes without control "
			            "characters, got %s",
			            SM_FAULT_MAX_HEADER_VALUE, q);
		}
		h[i].name = sm_config_arena_strndup(L->cfg->arena, name, nlen);
		h[i].value = sm_config_arena_strndup(L->cfg->arena, val, vlen);
		if (!h[i].name || !h[i].value)
			return fail(L, v, hpath, "out of memory");
	}
	f->headers = h;
	f->n_headers = count;
	return SM_OK;
}

static bool parse_bool(const yaml_node_t *n, bool *out)
{
	static const char *const t[] = {"true", "True", "TRUE"}, *const f[] = {"false", "False",
	                                                                       "FALSE"};
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (int i = 0; i < 3; i++) {
		if (strlen(t[i]) == n->data.scalar.length &&
		    !memcmp(t[i], n->data.scalar.value, n->data.scalar.length)) {
			*out = true;
			return true;
		}
		if (strlen(f[i]) == n->data.scalar.length &&
		    !memcmp(f[i], n->data.scalar.value, n->data.scalar.length)) {
			*out = false;
			return true;
		}
	}
	return false;
}

enum { FK_STATUS, FK_BODY, FK_HEADERS, FK_CTYPE, FK_PROB, FK_DELAY, FK_RESET, FK_COUNT };
static const char *const fault_keys[FK_COUNT] = {
        "status", "body", "headers", "content_type", "probability", "delay_ms", "reset"};

static int load_fault(struct loader *L, yaml_node_t *n, const char *path,
                      const struct sm_fault **out)
{
	char kpath[300], kt[128], q[128];
	if (n->type != YAML_MAPPING_NODE)
		return fail(L, n, path,
		            "expected a mapping (status, body, headers, content_type, "
		            "probability, delay_ms, reset), got %s",
		            n->type == YAML_SCALAR_NODE ? "a scalar" : kind_str(n));
	struct sm_fault *f = sm_config_arena_alloc(L->cfg->arena, sizeof(*f));
	if (!f)
		return fail(L, n, path, "out of memory");
	f->probability = 1.0;
	f->body = "";
	yaml_node_t *at[FK_COUNT] = {0};
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k, *v;
		int rc = pair_nodes(L, pr, path, "key name", &k, &v);
		if (rc)
			return rc;
		key_text(k, kt, sizeof(kt));
		snprintf(kpath, sizeof(kpath), "%.150s.%s", path, kt);
		int which = key_index(fault_keys, FK_COUNT, k);
		if (which < 0)
			return fail(L, k, kpath, "unknown key");
		if (at[which])
			return fail(L, k, kpath, "duplicate key");
		at[which] = v;
		if (which == FK_HEADERS) {
			rc = load_fault_headers(L, v, kpath, f);
			if (rc)
				return rc;
			continue;
		}
		if (v->type != YAML_SCALAR_NODE)
			return fail(L, v, kpath, "expected a scalar value, got %s", kind_str(v));
		const char *s = (const char *)v->data.scalar.value;
		size_t len = v->data.scalar.length;
		sm_config_quote(s, len, q, sizeof(q));
		uint32_t u;
		switch (which) {
		case FK_STATUS:
			if (!sm_config_parse_u32(s, len, 200, 599, &u))
				return fail(L, v, kpath, "expected an integer 200..599, got %s", q);
			f->status = (uint16_t)u;
			break;
		case FK_BODY:
			if (len > SM_FAULT_MAX_BODY)
				return fail(L, v, kpath, "body longer than %u bytes",
				            SM_FAULT_MAX_BODY);
			if (is_null(v))
				len = 0;
			f->body = sm_config_arena_strndup(L->cfg->arena, s, len);
			f->body_len = len;
			if (!f->body)
				return fail(L, v, kpath, "out of memory");
			break;
		case FK_CTYPE:
			if (len == 0 || len > SM_FAULT_MAX_HEADER_VALUE || !field_value_ok(s, len))
				return fail(L, v, kpath,
				            "expected a media type of 1..%u bytes without control "
				            "characters, got %s",
				            SM_FAULT_MAX_HEADER_VALUE, q);
			f->content_type = sm_config_arena_strndup(L->cfg->arena, s, len);
			if (!f->content_type)
				return fail(L, v, kpath, "out of memory");
			break;
		case FK_PROB:
			if (!sm_config_parse_probability(s, len, &f->probability))
				return fail(L, v, kpath, "expected a number 0.0..1.0, got %s", q);
			break;
		case FK_DELAY:
			if (!sm_config_parse_u32(s, len, 0, SM_FAULT_MAX_DELAY_MS, &f->delay_ms))
				return fail(L, v, kpath, "expected an integer 0..%u, got %s",
				            SM_FAULT_MAX_DELAY_MS, q);
			break;
		case FK_RESET:
			if (!parse_bool(v, &f->reset))
				return fail(L, v, kpath, "expected true or false, got %s", q);
			break;
		}
	}
	if (f->reset) {
		static const int answer[] = {FK_STATUS, FK_BODY, FK_HEADERS, FK_CTYPE};
		for (size_t i = 0; i < sizeof(answer) / sizeof(answer[0]); i++)
			if (at[answer[i]])
				return fail(L, at[answer[i]], path,
				            "%s cannot be combined with reset: true (a reset sends "
				            "no response)",
				            fault_keys[answer[i]]);
	} else if (!at[FK_STATUS]) {
		return fail(L, n, path, "missing required key \"status\" (or reset: true)");
	} else if (f->status == 204 || f->status == 205 || f->status == 304) {
		if (f->body_len || at[FK_CTYPE])
			return fail(L, at[FK_CTYPE] ? at[FK_CTYPE] : at[FK_BODY], path,
			            "status %u has no body: drop body and content_type",
			            (unsigned)f->status);
	} else if (!f->content_type && f->body_len) {
		/* Explicit beats clever: only the first byte is looked at. */
		f->content_type = (f->body[0] == '{' || f->body[0] == '[')
		                          ? "application/json"
		                          : "text/plain; charset=utf-8";
	}
	size_t head = 0, size = sm_fault_response_size(f, &head);
	if (size) {
		uint8_t *wire = sm_config_arena_alloc(L->cfg->arena, size);
		if (!wire)
			return fail(L, n, path, "out of memory");
		if (sm_fault_response(f, wire, size) != (int)size)
			return fail(L, n, path, "internal error rendering the response");
		f->response = wire;
		f->response_len = size;
		f->head_len = head;
	}
	*out = f;
	return SM_OK;
}

enum {
	RK_HOST,
	RK_PORT,
	RK_CLIENT,
	RK_DEST,
	RK_NAME,
	RK_ACTION,
	RK_SNI,
	RK_METHOD,
	RK_PATH,
	RK_FAULT,
	RK_COUNT
};
static const char *const rule_keys[RK_COUNT] = {"host",   "port", "client", "dest", "name",
                                                "action", "sni",  "method", "path", "fault"};

static int load_rule(struct loader *L, yaml_node_t *n, size_t idx, struct sm_rule *r)
{
	char path[64], kpath[200], msg[256], kt[128];
	snprintf(path, sizeof(path), "rules[%zu]", idx);
	if (n->type != YAML_MAPPING_NODE)
		return fail(L, n, path, "expected a mapping with an action, got %s",
		            n->type == YAML_SCALAR_NODE ? "a scalar" : kind_str(n));
	unsigned seen = 0;
	yaml_node_t *fault_key = NULL;
	struct sm_config_arena *a = L->cfg->arena;
	r->line = (unsigned)n->start_mark.line + 1;
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k, *v;
		int rc = pair_nodes(L, pr, path, "key name", &k, &v);
		if (rc)
			return rc;
		key_text(k, kt, sizeof(kt));
		snprintf(kpath, sizeof(kpath), "%s.%s", path, kt);
		int which = key_index(rule_keys, RK_COUNT, k);
		if (which < 0)
			return fail(L, k, kpath, "unknown key");
		if (seen & (1u << which))
			return fail(L, k, kpath, "duplicate key");
		seen |= 1u << which;
		void *arr = NULL;
		switch (which) {
		case RK_METHOD:
			rc = load_list(L, v, kpath, "an HTTP method", SM_CONFIG_MAX_METHODS,
			               sizeof(const char *), item_method, &arr, &r->n_methods);
			r->methods = arr;
			break;
		case RK_FAULT:
			fault_key = k;
			rc = load_fault(L, v, kpath, &r->fault);
			break;
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
			        [RK_SNI] = "a host name or glob",
			        [RK_PATH] = "a path glob",
			        [RK_NAME] = "a name",
			        [RK_ACTION] = "one of tunnel, block, intercept, fault"};
			if (v->type != YAML_SCALAR_NODE)
				return fail(L, v, kpath, "expected %s, got %s", what[which],
				            kind_str(v));
			bool ok;
			if (which == RK_HOST || which == RK_SNI)
				ok = sm_config_parse_host(a, SCALAR(v),
				                          which == RK_HOST ? &r->host : &r->sni,
				                          msg, sizeof(msg));
			else if (which == RK_PATH)
				ok = sm_config_parse_path(a, SCALAR(v), &r->path, msg, sizeof(msg));
			else if (which == RK_NAME)
				ok = sm_config_parse_name(a, SCALAR(v), &r->name, msg, sizeof(msg));
			else
				ok = sm_config_parse_rule_action(SCALAR(v), &r->action, msg,
				                                 sizeof(msg));
			if (!ok)
				return fail(L, v, kpath, "%s", msg);
		}
		}
		if (rc)
			return rc;
	}
	if (!(seen & (1u << RK_ACTION)))
		return fail(L, n, path, "missing required key \"action\"");
	if (r->action == SM_ACTION_FAULT && !r->fault)
		return fail(L, n, path, "action fault needs a \"fault\" mapping");
	if (r->action != SM_ACTION_FAULT && r->fault)
		return fail(L, fault_key, path, "\"fault\" is only allowed with action: fault");
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
	struct sm_rule *rules = sm_config_arena_alloc(L->cfg->arena, count * sizeof(*rules));
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

/* `disable: [http2, decoders]`: kill switches (sm_config_switch_name). */
static int load_disable(struct loader *L, yaml_node_t *n, const char *path)
{
	char ipath[224];
	if (is_null(n) || (n->type == YAML_SEQUENCE_NODE &&
	                   n->data.sequence.items.top == n->data.sequence.items.start))
		return SM_OK; /* nothing disabled */
	if (n->type == YAML_MAPPING_NODE)
		return fail(L, n, path, "expected a list of feature names, got a mapping");
	size_t nitems =
	        n->type == YAML_SEQUENCE_NODE
	                ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
	                : 1;
	for (size_t i = 0; i < nitems; i++) {
		yaml_node_t *it = n;
		const char *p = path;
		if (n->type == YAML_SEQUENCE_NODE) {
			snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
			p = ipath;
			it = node_at(L, n->data.sequence.items.start[i]);
		}
		if (it->type != YAML_SCALAR_NODE)
			return fail(L, it, p, "expected a feature name, got %s", kind_str(it));
		int bit = -1;
		for (int k = 0; sm_config_switch_name(k) && bit < 0; k++)
			if (strlen(sm_config_switch_name(k)) == it->data.scalar.length &&
			    memcmp(sm_config_switch_name(k), it->data.scalar.value,
			           it->data.scalar.length) == 0)
				bit = k;
		if (bit < 0)
			return fail(L, it, p,
			            "expected one of http2, http2_upstream_for_h1_clients, sse, "
			            "websocket, grpc, decoders, whole_bodies, strip_alt_svc_h3");
		L->cfg->disabled |= 1u << bit;
	}
	return SM_OK;
}

/* A mapping of scalar keys; section is "" at the top level or a section
 * of the key table ("tls", "observe", "timeouts", "limits": then only its
 * keys "<section>.<x>" are accepted). The sections come from the table
 * itself, so the file accepts exactly what --set does. */
static int load_mapping(struct loader *L, yaml_node_t *n, const char *section)
{
	char kt[128], path[192], msg[256];
	uint64_t seen = 0; /* bit i: sm_config_keys[i] or the section starting there;
	                      bits 60..63: disable, listen, allow_clients, rules */
	if (n->type != YAML_MAPPING_NODE)
		return fail(L, n, *section ? section : NULL, "expected a mapping of keys, got %s",
		            n->type == YAML_SCALAR_NODE ? "a scalar" : kind_str(n));
	for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k, *v;
		int rc = pair_nodes(L, pr, *section ? section : NULL, "key name", &k, &v);
		if (rc)
			return rc;
		key_text(k, kt, sizeof(kt));
		snprintf(path, sizeof(path), "%s%s%s", section, *section ? "." : "", kt);
		static const char *const special[] = {"disable", "listen", "allow_clients",
		                                      "rules"};
		int bit = -1;
		bool is_section = false;
		const struct sm_config_key *kd = NULL;
		if (!*section)
			for (int i = 0; i < 4; i++)
				if (strcmp(path, special[i]) == 0)
					bit = 60 + i;
		if (bit < 0 && !memchr(k->data.scalar.value, '.', k->data.scalar.length)) {
			kd = sm_config_find_key(path, strlen(path));
			if (kd) {
				bit = (int)(kd - sm_config_keys);
			} else if (!*section &&
			           (bit = sm_config_section(path, strlen(path))) >= 0) {
				is_section = true;
			}
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
			if (!sm_config_set_scalar(L->cfg, kd, SCALAR(v), is_null(v), msg,
			                          sizeof(msg)))
				return fail(L, v, path, "%s", msg);
		} else if (is_section) {
			rc = load_mapping(L, v, path);
		} else if (bit == 60) {
			rc = load_disable(L, v, path);
		} else if (bit == 61) {
			rc = load_list(L, v, path, "ADDR:PORT", SM_CONFIG_MAX_LISTEN,
			               sizeof(struct sm_config_listen), item_listen, &arr,
			               &L->cfg->n_listen);
			if (rc == SM_OK)
				L->cfg->listen = arr;
		} else if (bit == 62) {
			rc = load_list(L, v, path, "a CIDR", SM_CONFIG_MAX_CIDRS,
			               sizeof(struct sm_cidr), item_cidr, &arr,
			               &L->cfg->n_allow_clients);
			if (rc == SM_OK)
				L->cfg->allow_clients = arr;
		} else {
			rc = load_rules(L, v);
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
	L.cfg = sm_config_new(name);
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
	sm_config_apply_disable(L.cfg);
	*out = L.cfg;
	return SM_OK;
}
