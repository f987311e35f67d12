/* Policy: which action a proxied connection gets, from the ordered rules of
 * a config snapshot. Pure functions over an immutable snapshot: safe from any
 * reactor thread, no allocation, no state.
 *
 * Semantics (docs/config.md, "Policy evaluation"):
 *  - The decision is the action of the FIRST rule, in file order, whose every
 *    present field matches: host glob, port, client CIDRs, dest CIDRs. If no
 *    rule matches, default_action applies (rule index -1).
 *  - A rule with `dest` can only be known to match once the destination
 *    address is known (after DNS). Two calls implement the one definition:
 *      sm_policy_decide_pre()  before DNS; answers SM_OK with the final decision
 *                              when it does not depend on the address, else
 *                              SM_AGAIN ("resolve, then ask again");
 *      sm_policy_decide_dest() after DNS, with the address about to be
 *                              connected to; always final.
 *    decide_pre walks the rules in order: a rule whose non-dest fields fail is
 *    skipped; the first rule whose non-dest fields match decides at once if it
 *    has no dest, and makes the answer SM_AGAIN if it has one. So a pre-DNS
 *    decision never differs from what decide_dest would say for any address,
 *    rule order is respected, and a name resolving into a forbidden range is
 *    refused whenever the `dest` block rule comes before any rule that
 *    would let the request through (put such rules first).
 *  - If the requested host is an IP literal ("10.0.0.1", "::1"), decide_pre
 *    uses it as the destination, so dest rules decide without DNS.
 *  - When the caller tries several resolved addresses, it calls decide_dest
 *    for each before connecting to it.
 *
 * Host matching: case-insensitive; one trailing dot of the requested host (and
 * of the pattern, dropped at load) is ignored; '*' matches any run of characters, dots included,
 * possibly empty
 * ("*.x.test" matches "a.x.test" and "a.b.x.test", not "x.test"); a pattern
 * without '*' matches exactly; IP literals are matched as text (no brackets).
 * Client and dest matching: see core/cidr.h (IPv4-mapped IPv6 folded). */
#ifndef SM_CORE_POLICY_H
#define SM_CORE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/config.h"

struct sm_policy_input {
	const char *host; /* requested host, no port, no brackets; need not be
	                     NUL-terminated; NULL/0 = none (host rules fail) */
	size_t host_len;
	uint16_t port;                 /* requested port */
	const struct sockaddr *client; /* peer of the accepted socket; NULL = client rules fail */
	const struct sockaddr *dest;   /* resolved address (port ignored); used by decide_dest
	                                  only */
};

struct sm_policy_decision {
	enum sm_action action;
	int rule;         /* index into cfg->rules, or -1 for default_action */
	const char *name; /* the rule's name, or NULL (no name, or default) */
	const char *desc; /* `rules[0] host "*.blocked.test"` or "default_action";
	                     valid as long as cfg */
};

/* Before DNS. Returns SM_OK with *out final, or SM_AGAIN when a rule with
 * `dest` could match: resolve the host, then call sm_policy_decide_dest
 * (*out then holds the default decision and must not be used). */
int sm_policy_decide_pre(const struct sm_config *cfg, const struct sm_policy_input *in,
                         struct sm_policy_decision *out);

/* After DNS: full evaluation with in->dest. Returns SM_OK, or SM_ERR_INVALID
 * if in->dest is NULL or not AF_INET/AF_INET6 (then *out is the default). */
int sm_policy_decide_dest(const struct sm_config *cfg, const struct sm_policy_input *in,
                          struct sm_policy_decision *out);

/* True if the client address is inside one of cfg->allow_clients. */
bool sm_policy_client_allowed(const struct sm_config *cfg, const struct sockaddr *client);

/* Case-insensitive glob match of a host against a lower-case pattern
 * (exposed for tests and for SNI checks). */
bool sm_policy_host_match(const char *pattern, const char *host, size_t host_len);

#endif
