/* Policy: which action a proxied connection, and each request on it, gets
 * from the ordered rules of a config snapshot. Pure functions over an
 * immutable snapshot: safe from any reactor thread, no allocation, no state.
 *
 * Semantics (docs/config.md, "Policy evaluation"):
 *  - The decision is the action of the FIRST rule, in file order, whose every
 *    present field matches: host glob, port, client CIDRs, dest CIDRs, sni
 *    glob, and for requests method and path. If no rule matches,
 *    default_action applies (rule index -1).
 *  - A fault rule whose fault does not fire (probability, see `roll` below)
 *    does not match: evaluation goes on with the next rule.
 *  - Rules with `method` or `path` are request-level rules: they never decide
 *    a connection (the connection calls skip them), only requests.
 *  - Fields become known in this order, one call per step; each call walks
 *    the rules in order, skips a rule whose known fields fail, and at the
 *    first rule whose known fields all match either decides (SM_OK) or, if
 *    one of that rule's fields is not known yet, answers SM_AGAIN with
 *    out->need saying what to learn first:
 *      1. sm_policy_decide_pre      host, port, client (before DNS)
 *                                   -> SM_AGAIN: resolve, then 2.
 *      2. sm_policy_decide_dest     + dest (the address about to be connected
 *                                   to; call again per address tried)
 *                                   -> SM_AGAIN: read the ClientHello, then 3.
 *      3. sm_policy_decide_sni      + sni (NULL = no SNI, or no TLS at all:
 *                                   plain HTTP and non-TLS bytes after CONNECT
 *                                   call this at once with sni NULL); final.
 *      4. sm_policy_decide_request  + method, path, per request; final once
 *                                   dest is given.
 *    So an early SM_OK never differs from what a later step would say, and
 *    rule order is always respected. A name resolving into a forbidden range
 *    is refused when the `dest` block rule comes before any rule that would
 *    let the request through (put such rules first).
 *  - If the requested host is an IP literal ("10.0.0.1", "::1"), it is used
 *    as the destination when in->dest is NULL, so dest rules decide at once.
 *
 * What a connection-level decision means: tunnel/intercept/block as before
 * (block decided at step 3, after the CONNECT was answered: close without
 * answering the ClientHello); fault: answer the CONNECT (or plain request)
 * itself with the fault response, or reset; decided at step 3: reset now, or
 * intercept and answer every request with it (step 4 returns the same rule
 * for every request). What a request-level decision means: fault answers
 * this request (or resets the connection), block answers 403 to it, tunnel
 * and intercept mean "forward it".
 *
 * Fault rolls: the fault of rule i fires when
 * sm_fault_fires(fault, sm_rng_mix(roll ^ (0x9e3779b97f4a7c15 * (i + 1)))),
 * where roll is in->roll for rules without method/path and in->request_roll
 * for rules with them (so rules fire independently of each other). The caller draws them from its
 * per-reactor PRNG (base/rng.h): one `roll` per connection, passed unchanged
 * to every call for that connection including decide_request (so a
 * connection-level fault that did not fire for the CONNECT does not fire
 * for its requests either), and a fresh `request_roll` per request. For a
 * plain-HTTP request (no CONNECT), pass the same fresh value in both.
 * Rolls are a pure function of (roll, rule), so calling steps 1..3 again
 * gives the same answer. Probability 1 and 0 ignore the roll.
 *
 * Host and SNI matching: case-insensitive; one trailing dot of the input
 * (and of the pattern, dropped at load) is ignored; '*' matches any run of
 * characters, dots included, possibly empty ("*.x.test" matches "a.x.test"
 * and "a.b.x.test", not "x.test"); a pattern without '*' matches exactly; IP
 * literals are matched as text (no brackets).
 * Method: exact, case-sensitive. Path: case-sensitive glob ('*' = any run of
 * characters, '/' included) on the request target up to the first '?' or
 * '#', as sent (no percent-decoding). Client and dest: core/cidr.h. */
#ifndef SM_CORE_POLICY_H
#define SM_CORE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/config.h"

/* Zero-initialise and fill what is known; unused fields may stay 0/NULL. */
struct sm_policy_input {
	const char *host; /* requested host, no port, no brackets; need not be
	                     NUL-terminated; NULL/0 = none (host rules fail) */
	size_t host_len;
	uint16_t port;                 /* requested port */
	const struct sockaddr *client; /* peer of the accepted socket; NULL = client rules fail */
	const struct sockaddr *dest;   /* resolved address (port ignored): required by
	                                  decide_dest/_sni; optional for decide_request */
	const char *sni;               /* ClientHello server_name (decide_sni, decide_request);
	                                  NULL/0 = none (sni rules fail) */
	size_t sni_len;
	const char *method; /* request method (decide_request); NULL/0 = method rules fail */
	size_t method_len;
	const char *path; /* request target as sent, query included (decide_request;
	                     the query is ignored); NULL/0 = path rules fail */
	size_t path_len;
	uint64_t roll;         /* per-connection random bits for fault rules without
	                          method/path */
	uint64_t request_roll; /* per-request random bits for rules with method/path */
};

/* What a caller must learn before a decision can be final (with SM_AGAIN). */
enum sm_policy_need {
	SM_POLICY_NEED_NONE = 0, /* final */
	SM_POLICY_NEED_DEST = 1, /* resolve, then decide_dest (or decide_request with dest) */
	SM_POLICY_NEED_SNI = 2,  /* read the ClientHello, then decide_sni */
};

struct sm_policy_decision {
	enum sm_action action;
	int rule;                     /* index into cfg->rules, or -1 for default_action */
	const char *name;             /* the rule's name, or NULL (no name, or default) */
	const char *desc;             /* `rules[0] host "*.blocked.test"` or "default_action";
	                                 valid as long as cfg */
	const struct sm_fault *fault; /* the rule's fault iff action == SM_ACTION_FAULT
	                                 (it fired), else NULL */
	enum sm_policy_need need;     /* with SM_AGAIN; SM_POLICY_NEED_NONE with SM_OK */
	bool request_rules;           /* connection calls: a request-level rule before the deciding
	                                 rule may match requests here, so decide_request can answer
	                                 differently per request (if action is tunnel, only an
	                                 intercepted connection lets those rules see requests).
	                                 false: decide_request gives this decision for every
	                                 request with the same host/port/client/dest/sni/roll. */
};

/* Step 1, before DNS. Returns SM_OK with *out final, or SM_AGAIN when a
 * rule with `dest` or `sni` could match (out->need says which comes first;
 * the rest of *out holds the default decision and must not be used). */
int sm_policy_decide_pre(const struct sm_config *cfg, const struct sm_policy_input *in,
                         struct sm_policy_decision *out);

/* Step 2, after DNS, with in->dest. Returns SM_OK (final), SM_AGAIN with
 * need SM_POLICY_NEED_SNI when a rule with `sni` could match, or
 * SM_ERR_INVALID if in->dest is NULL or not AF_INET/AF_INET6 (then *out is
 * the default). Configurations without sni rules never get SM_AGAIN here. */
int sm_policy_decide_dest(const struct sm_config *cfg, const struct sm_policy_input *in,
                          struct sm_policy_decision *out);

/* Step 3, after the ClientHello (or at once with sni NULL when there is
 * none): in->dest and in->sni. Returns SM_OK (final) or SM_ERR_INVALID as
 * decide_dest. */
int sm_policy_decide_sni(const struct sm_config *cfg, const struct sm_policy_input *in,
                         struct sm_policy_decision *out);

/* Step 4, per request: every rule, with method and path (sni NULL = none).
 * Returns SM_OK (final), SM_AGAIN with need SM_POLICY_NEED_DEST when
 * in->dest is NULL (and the host is not an IP literal) and a rule with
 * `dest` could match (resolve, then ask again with dest), or SM_ERR_INVALID
 * if in->dest is set but not AF_INET/AF_INET6 (then *out is the default). */
int sm_policy_decide_request(const struct sm_config *cfg, const struct sm_policy_input *in,
                             struct sm_policy_decision *out);

/* True if the client address is inside one of cfg->allow_clients. */
bool sm_policy_client_allowed(const struct sm_config *cfg, const struct sockaddr *client);

/* Case-insensitive glob match of a host against a lower-case pattern
 * (exposed for tests and for SNI checks). */
bool sm_policy_host_match(const char *pattern, const char *host, size_t host_len);

/* Case-sensitive glob match of a request target against a path pattern; the
 * target is cut at its first '?' or '#'. */
bool sm_policy_path_match(const char *pattern, const char *target, size_t target_len);

#endif
