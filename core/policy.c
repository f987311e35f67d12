#include "core/policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "core/result.h"

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool sm_policy_host_match(const char *pat, const char *host, size_t hlen)
{
	if (hlen > 1 && host[hlen - 1] == '.')
		hlen--;
	/* Greedy match with backtracking to the last '*': O(len(pat) * hlen),
	 * both bounded (patterns <= 253 bytes). */
	size_t p = 0, h = 0, star = SIZE_MAX, mark = 0;
	while (h < hlen) {
		if (pat[p] == '*') {
			star = p++;
			mark = h;
		} else if (pat[p] != '\0' && pat[p] == lower(host[h])) {
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

static void decide_default(const struct sm_config *cfg, struct sm_policy_decision *out)
{
	out->action = cfg->default_action;
	out->rule = -1;
	out->name = NULL;
	out->desc = "default_action";
}

static void decide_rule(const struct sm_config *cfg, size_t i, struct sm_policy_decision *out)
{
	const struct sm_rule *r = &cfg->rules[i];
	out->action = r->action;
	out->rule = (int)i;
	out->name = r->name;
	out->desc = r->desc;
}

int sm_policy_decide_dest(const struct sm_config *cfg, const struct sm_policy_input *in,
                          struct sm_policy_decision *out)
{
	uint8_t fam, addr[16];
	decide_default(cfg, out);
	if (!sm_cidr_addr_from_sockaddr(in->dest, &fam, addr))
		return SM_ERR_INVALID;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct sm_rule *r = &cfg->rules[i];
		if (match_nondest(r, in) && match_dest(r, fam, addr)) {
			decide_rule(cfg, i, out);
			return SM_OK;
		}
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

int sm_policy_decide_pre(const struct sm_config *cfg, const struct sm_policy_input *in,
                         struct sm_policy_decision *out)
{
	struct sockaddr_storage ss;
	if (host_literal(in, &ss)) {
		struct sm_policy_input lit = *in;
		lit.dest = (const struct sockaddr *)&ss;
		return sm_policy_decide_dest(cfg, &lit, out);
	}
	decide_default(cfg, out);
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct sm_rule *r = &cfg->rules[i];
		if (!match_nondest(r, in))
			continue;
		if (r->n_dests)
			return SM_AGAIN; /* this rule may match: only the address can tell */
		decide_rule(cfg, i, out);
		return SM_OK;
	}
	return SM_OK;
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
