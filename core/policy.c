#include "core/policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "base/result.h"
#include "base/rng.h"

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Greedy glob with backtracking to the last '*': O(len(pat) * len), both
 * bounded (patterns <= 1024 bytes). fold: compare the input lower-cased
 * (the pattern is lower-case already). */
static bool glob(const char *pat, const char *s, size_t len, bool fold)
{
	size_t p = 0, h = 0, star = SIZE_MAX, mark = 0;
	while (h < len) {
		char c = fold ? lower(s[h]) : s[h];
		if (pat[p] == '*') {
			star = p++;
			mark = h;
		} else if (pat[p] != '\0' && pat[p] == c) {
			p++;
			h++;
		} else if (star != SIZE_MAX) {
			p = star + 1;
			h = ++mark;
		} else {
			return false;
		}
	}
	while (pat[p] == '*')
		p++;
	return pat[p] == '\0';
}

bool sm_policy_host_match(const char *pat, const char *host, size_t hlen)
{
	if (hlen > 1 && host[hlen - 1] == '.')
		hlen--;
	return glob(pat, host, hlen, true);
}

bool sm_policy_path_match(const char *pat, const char *t, size_t len)
{
	/* absolute-form ("http://h/p?q"): match from the path on */
	if (len > 0 && t[0] != '/' && t[0] != '*') {
		const char *sep = memmem(t, len, "://", 3);
		if (sep) {
			const char *auth = sep + 3;
			const char *slash = memchr(auth, '/', len - (size_t)(auth - t));
			if (!slash)
				return glob(pat, "/", 1, false);
			len -= (size_t)(slash - t);
			t = slash;
		}
	}
	for (size_t i = 0; i < len; i++) {
		if (t[i] == '?' || t[i] == '#') {
			len = i;
			break;
		}
	}
	return glob(pat, t, len, false);
}

static bool match_nondest(const struct sm_rule *r, const struct sm_policy_input *in)
{
	if (r->host && (!in->host || in->host_len == 0 ||
	                !sm_policy_host_match(r->host, in->host, in->host_len)))
		return false;
	if (r->n_ports) {
		size_t i = 0;
		while (i < r->n_ports && r->ports[i] != in->port)
			i++;
		if (i == r->n_ports)
			return false;
	}
	if (r->n_clients) {
		uint8_t fam, addr[16];
		if (!sm_cidr_addr_from_sockaddr(in->client, &fam, addr))
			return false;
		size_t i = 0;
		while (i < r->n_clients && !sm_cidr_contains(&r->clients[i], fam, addr))
			i++;
		if (i == r->n_clients)
			return false;
	}
	return true;
}

static bool match_dest(const struct sm_rule *r, uint8_t fam, const uint8_t addr[16])
{
	for (size_t i = 0; i < r->n_dests; i++)
		if (sm_cidr_contains(&r->dests[i], fam, addr))
			return true;
	return r->n_dests == 0;
}

static bool match_request(const struct sm_rule *r, const struct sm_policy_input *in)
{
	if (r->n_methods) {
		if (!in->method || in->method_len == 0)
			return false;
		size_t i = 0;
		while (i < r->n_methods && !(strlen(r->methods[i]) == in->method_len &&
		                             !memcmp(r->methods[i], in->method, in->method_len)))
			i++;
		if (i == r->n_methods)
			return false;
	}
	if (r->path && (!in->path || in->path_len == 0 ||
	                !sm_policy_path_match(r->path, in->path, in->path_len)))
		return false;
	return true;
}

static void decide_default(const struct sm_config *cfg, struct sm_policy_decision *out)
{
	out->action = cfg->default_action;
	out->rule = -1;
	out->name = NULL;
	out->desc = "default_action";
	out->fault = NULL;
	out->need = SM_POLICY_NEED_NONE;
	out->request_rules = false;
}

static void decide_rule(const struct sm_config *cfg, size_t i, struct sm_policy_decision *out)
{
	const struct sm_rule *r = &cfg->rules[i];
	out->action = r->action;
	out->rule = (int)i;
	out->name = r->name;
	out->desc = r->desc;
	out->fault = r->action == SM_ACTION_FAULT ? r->fault : NULL;
}

/* What one call knows besides host, port and client. */
struct known {
	bool dest;    /* fam/addr valid */
	bool sni;     /* in->sni is final (NULL = none) */
	bool request; /* method and path known: request-level rules may decide */
	uint8_t fam, addr[16];
};

/* The per-rule roll: independent across rules, fixed for a given roll. */
static bool fires(const struct sm_rule *r, size_t i, uint64_t roll)
{
	uint64_t salt = UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(i + 1);
	return sm_fault_fires(r->fault, sm_rng_mix(roll ^ salt));
}

/* The one definition of the decision; the public calls differ only in what
 * they know. */
static int evaluate(const struct sm_config *cfg, const struct sm_policy_input *in,
                    const struct known *k, struct sm_policy_decision *out)
{
	decide_default(cfg, out);
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct sm_rule *r = &cfg->rules[i];
		bool req = r->n_methods || r->path;
		if (!match_nondest(r, in))
			continue;
		if (r->n_dests && k->dest && !match_dest(r, k->fam, k->addr))
			continue;
		if (r->sni && k->sni &&
		    (!in->sni || in->sni_len == 0 ||
		     !sm_policy_host_match(r->sni, in->sni, in->sni_len)))
			continue;
		if (req && !k->request) {
			out->request_rules = true; /* may match this connection's requests */
			continue;
		}
		if (req && !match_request(r, in))
			continue;
		if (r->n_dests && !k->dest) {
			out->need = SM_POLICY_NEED_DEST; /* may match: only the address can tell */
			return SM_AGAIN;
		}
		if (r->sni && !k->sni) {
			out->need =
			        SM_POLICY_NEED_SNI; /* may match: only the ClientHello can tell */
			return SM_AGAIN;
		}
		if (r->action == SM_ACTION_FAULT && !fires(r, i, req ? in->request_roll : in->roll))
			continue; /* a fault that does not fire does not match */
		decide_rule(cfg, i, out);
		return SM_OK;
	}
	return SM_OK;
}

/* An IP-literal host is its own destination: fill ss and return true. */
static bool host_literal(const struct sm_policy_input *in, struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN];
	if (!in->host || in->host_len == 0 || in->host_len >= sizeof(buf))
		return false;
	memcpy(buf, in->host, in->host_len);
	buf[in->host_len] = '\0';
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, buf, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, buf, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		return true;
	}
	return false;
}

/* in->dest, else an IP-literal host, into k; false if neither. */
static bool known_dest(const struct sm_policy_input *in, struct known *k)
{
	struct sockaddr_storage ss;
	const struct sockaddr *sa = in->dest;
	if (!sa && host_literal(in, &ss))
		sa = (const struct sockaddr *)&ss;
	k->dest = sm_cidr_addr_from_sockaddr(sa, &k->fam, k->addr);
	return k->dest;
}

int sm_policy_decide_pre(const struct sm_config *cfg, const struct sm_policy_input *in,
                         struct sm_policy_decision *out)
{
	struct known k = {0};
	struct sm_policy_input pre = *in;
	pre.dest = NULL; /* before DNS only an IP-literal host is an address */
	known_dest(&pre, &k);
	return evaluate(cfg, in, &k, out);
}

/* Steps 2 and 3: the address is required. */
static int decide_with_dest(const struct sm_config *cfg, const struct sm_policy_input *in,
                            struct known *k, struct sm_policy_decision *out)
{
	if (!in->dest || !known_dest(in, k)) {
		decide_default(cfg, out);
		return SM_ERR_INVALID;
	}
	return evaluate(cfg, in, k, out);
}

int sm_policy_decide_dest(const struct sm_config *cfg, const struct sm_policy_input *in,
                          struct sm_policy_decision *out)
{
	struct known k = {0};
	return decide_with_dest(cfg, in, &k, out);
}

int sm_policy_decide_sni(const struct sm_config *cfg, const struct sm_policy_input *in,
                         struct sm_policy_decision *out)
{
	struct known k = {.sni = true};
	return decide_with_dest(cfg, in, &k, out);
}

int sm_policy_decide_request(const struct sm_config *cfg, const struct sm_policy_input *in,
                             struct sm_policy_decision *out)
{
	struct known k = {.sni = true, .request = true};
	if (!known_dest(in, &k) && in->dest) {
		decide_default(cfg, out);
		return SM_ERR_INVALID;
	}
	return evaluate(cfg, in, &k, out);
}

bool sm_policy_client_allowed(const struct sm_config *cfg, const struct sockaddr *client)
{
	uint8_t fam, addr[16];
	if (!sm_cidr_addr_from_sockaddr(client, &fam, addr))
		return false;
	for (size_t i = 0; i < cfg->n_allow_clients; i++)
		if (sm_cidr_contains(&cfg->allow_clients[i], fam, addr))
			return true;
	return false;
}
