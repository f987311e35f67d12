#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "core/cidr.h"
#include "core/config.h"
#include "core/policy.h"
#include "base/result.h"
#include "base/rng.h"

static struct sockaddr_storage sa(const char *ip)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(1234);
	} else {
		cr_assert_eq(inet_pton(AF_INET6, ip, &v6->sin6_addr), 1, "bad test address %s", ip);
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(1234);
	}
	return ss;
}

static struct sm_config *load(const char *yaml)
{
	struct sm_config *cfg = NULL;
	char err[512] = "";
	int rc = sm_config_load_buffer("p.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err));
	cr_assert_eq(rc, SM_OK, "%s", err);
	return cfg;
}

/* ---- CIDR ---- */

struct cidr_case {
	const char *text;
	enum sm_cidr_reason reason;
	const char *canon; /* formatted (normalised) block */
};

static const struct cidr_case cidr_cases[] = {
        {"10.0.0.0/8", SM_CIDR_OK, "10.0.0.0/8"},
        {"10.1.2.3", SM_CIDR_OK, "10.1.2.3/32"},
        {"0.0.0.0/0", SM_CIDR_OK, "0.0.0.0/0"},
        {"192.168.1.128/25", SM_CIDR_OK, "192.168.1.128/25"},
        {"192.168.1.129/25", SM_CIDR_HOST_BITS_SET, "192.168.1.128/25"},
        {"10.1.2.3/8", SM_CIDR_HOST_BITS_SET, "10.0.0.0/8"},
        {"::1", SM_CIDR_OK, "::1/128"},
        {"::/0", SM_CIDR_OK, "::/0"},
        {"2001:DB8::/32", SM_CIDR_OK, "2001:db8::/32"},
        {"2001:db8::1/32", SM_CIDR_HOST_BITS_SET, "2001:db8::/32"},
        {"fe80::/10", SM_CIDR_OK, "fe80::/10"},
        {"::ffff:10.0.0.0/104", SM_CIDR_OK, "10.0.0.0/8"},
        {"::ffff:1.2.3.4", SM_CIDR_OK, "1.2.3.4/32"},
        {"::ffff:0:0/96", SM_CIDR_OK, "0.0.0.0/0"},
        {"::ffff:0:0/95", SM_CIDR_HOST_BITS_SET, "::fffe:0:0/95"},
        {"::ffff:0:0/80", SM_CIDR_HOST_BITS_SET, "::/80"},
        {"10.0.0.0/33", SM_CIDR_BAD_PREFIX, NULL},
        {"10.0.0.0/", SM_CIDR_BAD_PREFIX, NULL},
        {"10.0.0.0/a", SM_CIDR_BAD_PREFIX, NULL},
        {"10.0.0.0/-1", SM_CIDR_BAD_PREFIX, NULL},
        {"::/129", SM_CIDR_BAD_PREFIX, NULL},
        {"::/1000", SM_CIDR_BAD_PREFIX, NULL},
        {"10.0.0/8", SM_CIDR_BAD_ADDRESS, NULL},
        {"010.0.0.0/8", SM_CIDR_BAD_ADDRESS, NULL},
        {"example.com/8", SM_CIDR_BAD_ADDRESS, NULL},
        {"[::1]/128", SM_CIDR_BAD_ADDRESS, NULL},
        {"", SM_CIDR_BAD_ADDRESS, NULL},
};

Test(cidr, parse_table)
{
	for (size_t i = 0; i < sizeof(cidr_cases) / sizeof(cidr_cases[0]); i++) {
		const struct cidr_case *c = &cidr_cases[i];
		struct sm_cidr out;
		enum sm_cidr_reason r = sm_cidr_parse(c->text, strlen(c->text), &out);
		cr_expect_eq(r, c->reason, "%s: got %s", c->text, sm_cidr_reason_str(r));
		if (c->canon) {
			char buf[SM_CIDR_STRLEN];
			cr_assert_geq(sm_cidr_format(&out, buf, sizeof(buf)), 0);
			cr_expect_str_eq(buf, c->canon, "%s", c->text);
		}
	}
	cr_assert_str_eq(sm_cidr_reason_str(SM_CIDR_HOST_BITS_SET), "host bits set");
}

struct match_case {
	const char *cidr, *addr;
	bool match;
};

static const struct match_case match_cases[] = {
        {"10.0.0.0/8", "10.255.1.2", true},
        {"10.0.0.0/8", "11.0.0.0", false},
        {"10.0.0.0/8", "::ffff:10.1.2.3", true}, /* mapped address folded */
        {"10.0.0.0/8", "::ffff:11.1.2.3", false},
        {"::ffff:10.0.0.0/104", "10.9.9.9", true},
        {"0.0.0.0/0", "::ffff:1.1.1.1", true},
        {"0.0.0.0/0", "::1", false},
        {"::/0", "1.2.3.4", false}, /* IPv6 prefixes never cover IPv4 peers */
        {"::/0", "::ffff:1.2.3.4", false},
        {"::/0", "2001:db8::1", true},
        {"::1/128", "::1", true},
        {"::1/128", "::2", false},
        {"2001:db8::/33", "2001:db8:7fff::1", true},
        {"2001:db8::/33", "2001:db8:8000::1", false},
        {"192.168.1.128/25", "192.168.1.200", true},
        {"192.168.1.128/25", "192.168.1.127", false},
        {"1.2.3.4/32", "1.2.3.4", true},
        {"1.2.3.4/32", "1.2.3.5", false},
};

Test(cidr, match_table)
{
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];
		struct sm_cidr cidr;
		cr_assert_eq(sm_cidr_parse(c->cidr, strlen(c->cidr), &cidr), SM_CIDR_OK);
		struct sockaddr_storage ss = sa(c->addr);
		cr_expect_eq(sm_cidr_match_sockaddr(&cidr, (struct sockaddr *)&ss), c->match,
		             "%s in %s", c->addr, c->cidr);
	}
	struct sm_cidr any;
	sm_cidr_parse("0.0.0.0/0", 9, &any);
	struct sockaddr un = {.sa_family = AF_UNIX};
	cr_assert_not(sm_cidr_match_sockaddr(&any, &un));
	cr_assert_not(sm_cidr_match_sockaddr(&any, NULL));
}

/* ---- host globs ---- */

struct glob_case {
	const char *pat, *host;
	bool match;
};

static const struct glob_case glob_cases[] = {
        {"*.x.test", "a.x.test", true},
        {"*.x.test", "a.b.x.test", true},
        {"*.x.test", "x.test", false},
        {"*.x.test", "ax.test", false},
        {"*.x.test", "A.X.TEST", true},
        {"*.x.test", "a.x.test.", true}, /* one trailing dot ignored */
        {"*.x.test", "a.x.test.evil", false},
        {"x.test", "x.test", true},
        {"x.test", "X.Test", true},
        {"x.test", "a.x.test", false},
        {"x.test", "x.tes", false},
        {"x.test", "x.testt", false},
        {"*", "anything.at.all", true},
        {"*", "", true},
        {"a*c", "abbbc", true},
        {"a*c", "ac", true},
        {"a*c", "abcd", false},
        {"*a*b*", "xxaxxbxx", true},
        {"*a*b*", "xxbxxaxx", false},
        {"api-*.svc", "api-1.svc", true},
        {"api-*.svc", "api-.svc", true},
        {"10.0.0.1", "10.0.0.1", true},
        {"10.0.0.*", "10.0.0.77", true},
        {"::1", "::1", true},
        {"::1", "::2", false},
        {"**.x", "a.x", true},
};

Test(policy, glob_table)
{
	for (size_t i = 0; i < sizeof(glob_cases) / sizeof(glob_cases[0]); i++) {
		const struct glob_case *c = &glob_cases[i];
		cr_expect_eq(sm_policy_host_match(c->pat, c->host, strlen(c->host)), c->match,
		             "%s vs %s", c->pat, c->host);
	}
	/* Host need not be NUL-terminated. */
	cr_assert(sm_policy_host_match("x.test", "x.test:443", 6));
}

/* ---- decisions ---- */

static const char *rules_yaml = "default_action: tunnel\n"
                                "rules:\n"
                                "  - name: blocked sites\n" /* 0 */
                                "    host: \"*.blocked.test\"\n"
                                "    action: block\n"
                                "  - host: api.example.test\n" /* 1 */
                                "    port: [443, 8443]\n"
                                "    action: intercept\n"
                                "  - host: api.example.test\n" /* 2 */
                                "    action: block\n"
                                "  - client: [10.9.0.0/16, \"2001:db8:9::/48\"]\n" /* 3 */
                                "    port: 22\n"
                                "    action: block\n"
                                "  - name: internal\n" /* 4 */
                                "    dest: [10.0.0.0/8, \"fd00::/8\"]\n"
                                "    action: block\n"
                                "  - host: \"*.mixed.test\"\n" /* 5 */
                                "    dest: 192.0.2.0/24\n"
                                "    action: intercept\n"
                                "  - host: \"*.mixed.test\"\n" /* 6 */
                                "    action: block\n"
                                "  - host: \"*.late.test\"\n" /* 7 */
                                "    action: tunnel\n";

struct decide_case {
	const char *host;
	uint16_t port;
	const char *client;
	const char *dest; /* NULL: pre-DNS only */
	int pre_rc;       /* SM_OK or SM_AGAIN */
	int rule;         /* final rule index, -1 default */
	enum sm_action action;
};

static const struct decide_case decide_cases[] = {
        {"www.blocked.test", 443, "127.0.0.1", NULL, SM_OK, 0, SM_ACTION_BLOCK},
        {"a.b.BLOCKED.test", 80, "::1", NULL, SM_OK, 0, SM_ACTION_BLOCK},
        {"blocked.test", 443, "127.0.0.1", "93.184.216.34", SM_AGAIN, -1, SM_ACTION_TUNNEL},
        {"api.example.test", 443, "127.0.0.1", NULL, SM_OK, 1, SM_ACTION_INTERCEPT},
        {"api.example.test", 8443, "127.0.0.1", NULL, SM_OK, 1, SM_ACTION_INTERCEPT},
        {"api.example.test", 80, "127.0.0.1", NULL, SM_OK, 2, SM_ACTION_BLOCK},
        /* client CIDRs, IPv4, mapped and IPv6 */
        {"ssh.test", 22, "10.9.3.4", NULL, SM_OK, 3, SM_ACTION_BLOCK},
        {"ssh.test", 22, "::ffff:10.9.3.4", NULL, SM_OK, 3, SM_ACTION_BLOCK},
        {"ssh.test", 22, "2001:db8:9:1::5", NULL, SM_OK, 3, SM_ACTION_BLOCK},
        {"ssh.test", 22, "10.8.3.4", "203.0.113.5", SM_AGAIN, -1, SM_ACTION_TUNNEL},
        {"ssh.test", 23, "10.9.3.4", "203.0.113.5", SM_AGAIN, -1, SM_ACTION_TUNNEL},
        /* a name resolving into a forbidden range is refused after DNS */
        {"innocent.test", 443, "127.0.0.1", "10.1.2.3", SM_AGAIN, 4, SM_ACTION_BLOCK},
        {"innocent.test", 443, "127.0.0.1", "::ffff:10.1.2.3", SM_AGAIN, 4, SM_ACTION_BLOCK},
        {"innocent.test", 443, "127.0.0.1", "fd12::1", SM_AGAIN, 4, SM_ACTION_BLOCK},
        {"innocent.test", 443, "127.0.0.1", "8.8.8.8", SM_AGAIN, -1, SM_ACTION_TUNNEL},
        /* IP literal hosts decide dest rules before DNS */
        {"10.7.7.7", 443, "127.0.0.1", NULL, SM_OK, 4, SM_ACTION_BLOCK},
        {"fd00::7", 443, "127.0.0.1", NULL, SM_OK, 4, SM_ACTION_BLOCK},
        {"8.8.4.4", 443, "127.0.0.1", NULL, SM_OK, -1, SM_ACTION_TUNNEL},
        /* host+dest: both must match; order kept against the later host rule */
        {"a.mixed.test", 443, "127.0.0.1", "192.0.2.9", SM_AGAIN, 5, SM_ACTION_INTERCEPT},
        {"a.mixed.test", 443, "127.0.0.1", "198.51.100.1", SM_AGAIN, 6, SM_ACTION_BLOCK},
        {"a.mixed.test", 443, "127.0.0.1", "10.0.0.1", SM_AGAIN, 4, SM_ACTION_BLOCK},
        /* a non-dest rule after a dest rule still waits for DNS (rule 4 first) */
        {"x.late.test", 443, "127.0.0.1", "10.0.0.1", SM_AGAIN, 4, SM_ACTION_BLOCK},
        {"x.late.test", 443, "127.0.0.1", "1.1.1.1", SM_AGAIN, 7, SM_ACTION_TUNNEL},
        /* a rule before any dest rule decides before DNS even if the name resolves
         * into a forbidden range: first match wins */
        {"www.blocked.test", 443, "127.0.0.1", "10.0.0.1", SM_OK, 0, SM_ACTION_BLOCK},
};

Test(policy, decide_table)
{
	struct sm_config *cfg = load(rules_yaml);
	for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
		const struct decide_case *c = &decide_cases[i];
		struct sockaddr_storage client = sa(c->client), dest;
		struct sm_policy_input in = {.host = c->host,
		                             .host_len = strlen(c->host),
		                             .port = c->port,
		                             .client = (struct sockaddr *)&client};
		struct sm_policy_decision d;
		int rc = sm_policy_decide_pre(cfg, &in, &d);
		cr_expect_eq(rc, c->pre_rc, "case %zu (%s): pre rc %d", i, c->host, rc);
		if (rc == SM_OK) {
			cr_expect_eq(d.rule, c->rule, "case %zu (%s): pre rule %d", i, c->host,
			             d.rule);
			cr_expect_eq(d.action, c->action, "case %zu", i);
		}
		if (!c->dest)
			continue;
		/* A final pre decision must equal the post-DNS one for this address. */
		dest = sa(c->dest);
		in.dest = (struct sockaddr *)&dest;
		cr_assert_eq(sm_policy_decide_dest(cfg, &in, &d), SM_OK);
		cr_expect_eq(d.rule, c->rule, "case %zu (%s -> %s): rule %d", i, c->host, c->dest,
		             d.rule);
		cr_expect_eq(d.action, c->action, "case %zu", i);
	}
	sm_config_free(cfg);
}

Test(policy, decision_names_and_descriptions)
{
	struct sm_config *cfg = load(rules_yaml);
	struct sockaddr_storage client = sa("127.0.0.1"), dest = sa("10.0.0.1");
	struct sm_policy_input in = {.host = "www.blocked.test",
	                             .host_len = 16,
	                             .port = 443,
	                             .client = (struct sockaddr *)&client};
	struct sm_policy_decision d;
	cr_assert_eq(sm_policy_decide_pre(cfg, &in, &d), SM_OK);
	cr_assert_str_eq(d.name, "blocked sites");
	cr_assert_str_eq(d.desc, "rules[0] \"blocked sites\" host \"*.blocked.test\"");

	in.host = "other.test";
	in.host_len = 10;
	in.dest = (struct sockaddr *)&dest;
	cr_assert_eq(sm_policy_decide_dest(cfg, &in, &d), SM_OK);
	cr_assert_eq(d.rule, 4);
	cr_assert_str_eq(d.name, "internal");
	cr_assert_str_eq(d.desc, "rules[4] \"internal\" dest 10.0.0.0/8,fd00::/8");

	dest = sa("1.1.1.1");
	cr_assert_eq(sm_policy_decide_dest(cfg, &in, &d), SM_OK);
	cr_assert_eq(d.rule, -1);
	cr_assert_null(d.name);
	cr_assert_str_eq(d.desc, "default_action");

	in.dest = NULL;
	cr_assert_eq(sm_policy_decide_dest(cfg, &in, &d), SM_ERR_INVALID);
	cr_assert_eq(d.rule, -1);
	sm_config_free(cfg);
}

Test(policy, missing_host_or_client_never_matches_those_fields)
{
	struct sm_config *cfg = load("default_action: block\n"
	                             "rules:\n"
	                             "  - host: \"*\"\n    action: intercept\n"
	                             "  - client: 0.0.0.0/0\n    action: tunnel\n");
	struct sm_policy_input in = {.port = 443};
	struct sm_policy_decision d;
	cr_assert_eq(sm_policy_decide_pre(cfg, &in, &d), SM_OK);
	cr_assert_eq(d.rule, -1);
	cr_assert_eq(d.action, SM_ACTION_BLOCK);
	struct sockaddr_storage client = sa("::ffff:192.0.2.1");
	in.client = (struct sockaddr *)&client;
	cr_assert_eq(sm_policy_decide_pre(cfg, &in, &d), SM_OK);
	cr_assert_eq(d.rule, 1);
	in.host = "";
	cr_assert_eq(sm_policy_decide_pre(cfg, &in, &d), SM_OK);
	cr_assert_eq(d.rule, 1);
	in.host = "h";
	in.host_len = 1;
	cr_assert_eq(sm_policy_decide_pre(cfg, &in, &d), SM_OK);
	cr_assert_eq(d.rule, 0);
	sm_config_free(cfg);
}

Test(policy, default_action_without_rules)
{
	struct sm_config *cfg = sm_config_default();
	struct sockaddr_storage client = sa("127.0.0.1");
	struct sm_policy_input in = {.host = "example.test",
	                             .host_len = 12,
	                             .port = 443,
	                             .client = (struct sockaddr *)&client};
	struct sm_policy_decision d;
	cr_assert_eq(sm_policy_decide_pre(cfg, &in, &d), SM_OK);
	cr_assert_eq(d.action, SM_ACTION_INTERCEPT);
	cr_assert_eq(d.rule, -1);
	char err[128];
	cr_assert_eq(sm_config_set(cfg, "default_action=block", err, sizeof(err)), SM_OK);
	cr_assert_eq(sm_policy_decide_pre(cfg, &in, &d), SM_OK);
	cr_assert_eq(d.action, SM_ACTION_BLOCK);
	sm_config_free(cfg);
}

struct allow_case {
	const char *addr;
	bool allowed;
};

Test(policy, client_allowed)
{
	static const struct allow_case def[] = {
	        {"127.0.0.1", true}, {"127.9.9.9", true}, {"::ffff:127.0.0.1", true},
	        {"::1", true},       {"10.0.0.1", false}, {"::2", false},
	};
	struct sm_config *cfg = sm_config_default();
	for (size_t i = 0; i < sizeof(def) / sizeof(def[0]); i++) {
		struct sockaddr_storage ss = sa(def[i].addr);
		cr_expect_eq(sm_policy_client_allowed(cfg, (struct sockaddr *)&ss), def[i].allowed,
		             "%s", def[i].addr);
	}
	cr_assert_not(sm_policy_client_allowed(cfg, NULL));
	char err[128];
	cr_assert_eq(sm_config_set(cfg, "allow_clients=10.0.0.0/8", err, sizeof(err)), SM_OK);
	struct sockaddr_storage a = sa("10.0.0.1"), b = sa("127.0.0.1");
	cr_assert(sm_policy_client_allowed(cfg, (struct sockaddr *)&a));
	cr_assert_not(sm_policy_client_allowed(cfg, (struct sockaddr *)&b));
	sm_config_free(cfg);
}

/* ---- SNI, method, path: the four steps ---- */

static const char *steps_yaml = "rules:\n"
                                "  - host: api.example.test\n" /* 0: request-level */
                                "    path: \"/v1/*\"\n"
                                "    action: fault\n"
                                "    fault: {status: 429}\n"
                                "  - host: \"*.pinned.test\"\n" /* 1 */
                                "    sni: \"*.pinned.test\"\n"
                                "    action: tunnel\n"
                                "  - host: \"*.pinned.test\"\n" /* 2 */
                                "    action: block\n"
                                "  - host: \"*.cdn.test\"\n" /* 3 */
                                "    sni: evil.test\n"
                                "    action: block\n"
                                "  - host: \"*.cdn.test\"\n" /* 4 */
                                "    dest: 10.0.0.0/8\n"
                                "    action: block\n"
                                "  - host: \"*.cdn.test\"\n" /* 5 */
                                "    action: tunnel\n"
                                "  - host: f.test\n" /* 6 */
                                "    action: fault\n"
                                "    fault: {status: 503}\n"
                                "  - host: api.example.test\n" /* 7 */
                                "    action: intercept\n";

struct step_case {
	const char *host, *sni, *dest;
	int pre_rc, pre_need;   /* decide_pre */
	int dest_rc, dest_need; /* decide_dest */
	int rule;               /* final (decide_sni) */
	enum sm_action action;
	bool request_rules;
};

static const struct step_case step_cases[] = {
        {"api.example.test", "api.example.test", "192.0.2.1", SM_OK, 0, SM_OK, 0, 7,
         SM_ACTION_INTERCEPT, true},
        {"a.pinned.test", "a.pinned.test", "192.0.2.1", SM_AGAIN, SM_POLICY_NEED_SNI, SM_AGAIN,
         SM_POLICY_NEED_SNI, 1, SM_ACTION_TUNNEL, false},
        {"a.pinned.test", "other.test", "192.0.2.1", SM_AGAIN, SM_POLICY_NEED_SNI, SM_AGAIN,
         SM_POLICY_NEED_SNI, 2, SM_ACTION_BLOCK, false},
        {"a.pinned.test", NULL, "192.0.2.1", SM_AGAIN, SM_POLICY_NEED_SNI, SM_AGAIN,
         SM_POLICY_NEED_SNI, 2, SM_ACTION_BLOCK, false},
        {"A.Pinned.Test.", "B.PINNED.test.", "192.0.2.1", SM_AGAIN, SM_POLICY_NEED_SNI, SM_AGAIN,
         SM_POLICY_NEED_SNI, 1, SM_ACTION_TUNNEL, false},
        {"x.cdn.test", "evil.test", "10.1.1.1", SM_AGAIN, SM_POLICY_NEED_SNI, SM_AGAIN,
         SM_POLICY_NEED_SNI, 3, SM_ACTION_BLOCK, false},
        {"x.cdn.test", "good.test", "10.1.1.1", SM_AGAIN, SM_POLICY_NEED_SNI, SM_AGAIN,
         SM_POLICY_NEED_SNI, 4, SM_ACTION_BLOCK, false},
        {"x.cdn.test", "good.test", "8.8.8.8", SM_AGAIN, SM_POLICY_NEED_SNI, SM_AGAIN,
         SM_POLICY_NEED_SNI, 5, SM_ACTION_TUNNEL, false},
        {"f.test", NULL, "192.0.2.1", SM_OK, 0, SM_OK, 0, 6, SM_ACTION_FAULT, false},
        {"other.test", "other.test", "192.0.2.1", SM_OK, 0, SM_OK, 0, -1, SM_ACTION_INTERCEPT,
         false},
        {"10.2.3.4", NULL, "10.2.3.4", SM_OK, 0, SM_OK, 0, -1, SM_ACTION_INTERCEPT, false},
};

Test(policy, connection_steps_pre_dest_sni)
{
	struct sm_config *cfg = load(steps_yaml);
	for (size_t i = 0; i < sizeof(step_cases) / sizeof(step_cases[0]); i++) {
		const struct step_case *c = &step_cases[i];
		struct sockaddr_storage client = sa("127.0.0.1"), dest = sa(c->dest);
		struct sm_policy_input in = {.host = c->host,
		                             .host_len = strlen(c->host),
		                             .port = 443,
		                             .client = (struct sockaddr *)&client};
		struct sm_policy_decision d;
		int rc = sm_policy_decide_pre(cfg, &in, &d);
		cr_expect_eq(rc, c->pre_rc, "case %zu: pre rc %d", i, rc);
		cr_expect_eq((int)d.need, c->pre_need, "case %zu: pre need %d", i, (int)d.need);
		if (rc == SM_OK) {
			cr_expect_eq(d.rule, c->rule, "case %zu: pre rule %d", i, d.rule);
			cr_expect_eq(d.request_rules, c->request_rules, "case %zu", i);
		}
		in.dest = (struct sockaddr *)&dest;
		rc = sm_policy_decide_dest(cfg, &in, &d);
		cr_expect_eq(rc, c->dest_rc, "case %zu: dest rc %d", i, rc);
		cr_expect_eq((int)d.need, c->dest_need, "case %zu: dest need %d", i, (int)d.need);
		if (rc == SM_OK)
			cr_expect_eq(d.rule, c->rule, "case %zu: dest rule %d", i, d.rule);
		in.sni = c->sni;
		in.sni_len = c->sni ? strlen(c->sni) : 0;
		cr_assert_eq(sm_policy_decide_sni(cfg, &in, &d), SM_OK);
		cr_expect_eq(d.rule, c->rule, "case %zu: sni rule %d", i, d.rule);
		cr_expect_eq(d.action, c->action, "case %zu: action %d", i, (int)d.action);
		cr_expect_eq(d.need, SM_POLICY_NEED_NONE, "case %zu", i);
		cr_expect_eq(d.request_rules, c->request_rules, "case %zu: request_rules", i);
		if (d.action == SM_ACTION_FAULT) {
			cr_assert_not_null(d.fault);
			cr_expect_eq(d.fault->status, 503);
		} else {
			cr_expect_null(d.fault, "case %zu", i);
		}
	}
	{ /* decide_sni needs the address */
		struct sm_policy_input in = {.host = "a.test", .host_len = 6, .port = 443};
		struct sm_policy_decision d;
		cr_expect_eq(sm_policy_decide_sni(cfg, &in, &d), SM_ERR_INVALID);
		cr_expect_eq(d.rule, -1);
	}
	sm_config_free(cfg);
}

static const char *request_yaml =
        "default_action: tunnel\n"
        "rules:\n"
        "  - host: \"api.example.test\"\n" /* 0: the example of the issue */
        "    path: \"/v1/*\"\n"
        "    action: fault\n"
        "    fault: { status: 429, body: '{\"error\":{\"type\":\"rate_limit_error\"}}', "
        "probability: 1.0 }\n"
        "  - host: api.example.test\n" /* 1 */
        "    method: [POST, PUT]\n"
        "    path: \"/admin*\"\n"
        "    action: block\n"
        "  - method: DELETE\n" /* 2 */
        "    action: fault\n"
        "    fault: { reset: true }\n"
        "  - sni: \"*.pinned.test\"\n" /* 3 */
        "    path: /health\n"
        "    action: tunnel\n"
        "  - path: \"/blocked/*\"\n" /* 4 */
        "    dest: 10.0.0.0/8\n"
        "    action: block\n"
        "  - host: api.example.test\n" /* 5 */
        "    action: intercept\n";

struct request_case {
	const char *host, *sni, *dest, *method, *path;
	int rc, need, rule;
	enum sm_action action;
};

static const struct request_case request_cases[] = {
        {"api.example.test", NULL, NULL, "GET", "/v1/messages", SM_OK, 0, 0, SM_ACTION_FAULT},
        {"api.example.test", NULL, NULL, "POST", "/v1/x?y=1", SM_OK, 0, 0, SM_ACTION_FAULT},
        {"API.example.test", NULL, NULL, "GET", "/v1/", SM_OK, 0, 0, SM_ACTION_FAULT},
        {"api.example.test", NULL, NULL, "GET", "/v1", SM_OK, 0, 5, SM_ACTION_INTERCEPT},
        {"api.example.test", NULL, NULL, "GET", "/V1/x", SM_OK, 0, 5, SM_ACTION_INTERCEPT},
        {"api.example.test", NULL, NULL, "GET", "/v2/x?q=/v1/", SM_OK, 0, 5, SM_ACTION_INTERCEPT},
        {"api.example.test", NULL, NULL, "GET", "/v2#/v1/", SM_OK, 0, 5, SM_ACTION_INTERCEPT},
        {"api.example.test", NULL, NULL, "GET", "http://api.example.test/v1/x?y", SM_OK, 0, 0,
         SM_ACTION_FAULT},
        {"api.example.test", NULL, NULL, "GET", "http://api.example.test", SM_OK, 0, 5,
         SM_ACTION_INTERCEPT},
        {"api.example.test", NULL, NULL, "POST", "/admin/users", SM_OK, 0, 1, SM_ACTION_BLOCK},
        {"api.example.test", NULL, NULL, "PUT", "/admin", SM_OK, 0, 1, SM_ACTION_BLOCK},
        {"api.example.test", NULL, NULL, "GET", "/admin", SM_OK, 0, 5, SM_ACTION_INTERCEPT},
        {"api.example.test", NULL, NULL, "post", "/admin", SM_OK, 0, 5, SM_ACTION_INTERCEPT},
        {"api.example.test", NULL, NULL, "DELETE", "/v1/x", SM_OK, 0, 0, SM_ACTION_FAULT},
        {"api.example.test", NULL, NULL, "DELETE", "/x", SM_OK, 0, 2, SM_ACTION_FAULT},
        {"other.test", NULL, NULL, "DELETE", "/", SM_OK, 0, 2, SM_ACTION_FAULT},
        {"other.test", NULL, NULL, NULL, "/", SM_OK, 0, -1, SM_ACTION_TUNNEL},
        {"a.pinned.test", "a.pinned.test", NULL, "GET", "/health", SM_OK, 0, 3, SM_ACTION_TUNNEL},
        {"a.pinned.test", "a.pinned.test", NULL, "GET", "/health?full=1", SM_OK, 0, 3,
         SM_ACTION_TUNNEL},
        {"a.pinned.test", "a.pinned.test", NULL, "GET", "/healthz", SM_OK, 0, -1, SM_ACTION_TUNNEL},
        {"a.pinned.test", NULL, NULL, "GET", "/health", SM_OK, 0, -1, SM_ACTION_TUNNEL},
        {"h.test", NULL, NULL, "GET", "/blocked/x", SM_AGAIN, SM_POLICY_NEED_DEST, -1,
         SM_ACTION_TUNNEL},
        {"h.test", NULL, "10.0.0.5", "GET", "/blocked/x", SM_OK, 0, 4, SM_ACTION_BLOCK},
        {"h.test", NULL, "1.1.1.1", "GET", "/blocked/x", SM_OK, 0, -1, SM_ACTION_TUNNEL},
        {"h.test", NULL, NULL, "GET", "/open/x", SM_OK, 0, -1, SM_ACTION_TUNNEL},
        {"10.0.0.9", NULL, NULL, "GET", "/blocked/x", SM_OK, 0, 4, SM_ACTION_BLOCK},
};

Test(policy, request_level_table)
{
	struct sm_config *cfg = load(request_yaml);
	for (size_t i = 0; i < sizeof(request_cases) / sizeof(request_cases[0]); i++) {
		const struct request_case *c = &request_cases[i];
		struct sockaddr_storage client = sa("127.0.0.1"), dest;
		struct sm_policy_input in = {.host = c->host,
		                             .host_len = strlen(c->host),
		                             .port = 443,
		                             .client = (struct sockaddr *)&client,
		                             .sni = c->sni,
		                             .sni_len = c->sni ? strlen(c->sni) : 0,
		                             .method = c->method,
		                             .method_len = c->method ? strlen(c->method) : 0,
		                             .path = c->path,
		                             .path_len = strlen(c->path)};
		if (c->dest) {
			dest = sa(c->dest);
			in.dest = (struct sockaddr *)&dest;
		}
		struct sm_policy_decision d;
		int rc = sm_policy_decide_request(cfg, &in, &d);
		cr_expect_eq(rc, c->rc, "case %zu (%s %s): rc %d", i, c->method, c->path, rc);
		cr_expect_eq((int)d.need, c->need, "case %zu: need %d", i, (int)d.need);
		if (rc != SM_OK)
			continue;
		cr_expect_eq(d.rule, c->rule, "case %zu (%s %s %s): rule %d", i, c->host, c->method,
		             c->path, d.rule);
		cr_expect_eq(d.action, c->action, "case %zu: action %d", i, (int)d.action);
		cr_expect_eq(d.fault != NULL, c->action == SM_ACTION_FAULT, "case %zu", i);
	}
	/* The example's fault, as loaded. */
	const struct sm_fault *f = cfg->rules[0].fault;
	cr_assert_not_null(f);
	cr_expect_eq(f->status, 429);
	cr_expect_str_eq(f->body, "{\"error\":{\"type\":\"rate_limit_error\"}}");
	cr_expect_str_eq(f->content_type, "application/json");
	cr_expect_eq(f->probability, 1.0);
	cr_expect(cfg->rules[2].fault->reset);
	cr_expect_str_eq(cfg->rules[1].desc,
	                 "rules[1] host \"api.example.test\" method POST,PUT path \"/admin*\"");
	cr_expect_str_eq(cfg->rules[3].desc, "rules[3] sni \"*.pinned.test\" path \"/health\"");

	/* Connection level: every request-level rule is skipped, and flagged. */
	struct sm_policy_input in = {.host = "api.example.test", .host_len = 16, .port = 443};
	struct sm_policy_decision d;
	cr_assert_eq(sm_policy_decide_pre(cfg, &in, &d), SM_OK);
	cr_expect_eq(d.rule, 5);
	cr_expect(d.request_rules);
	sm_config_free(cfg);
}

struct path_case {
	const char *pat, *target;
	bool match;
};

static const struct path_case path_cases[] = {
        {"/v1/*", "/v1/messages", true},
        {"/v1/*", "/v1/", true},
        {"/v1/*", "/v1", false},
        {"/v1/*", "/v1/a/b/c?x=1", true},
        {"/v1/*", "/V1/a", false},
        {"/v1/*/items", "/v1/42/items", true},
        {"/v1/*/items", "/v1/42/items/", false},
        {"/v1/*/items", "/v1/a/b/items?q", true},
        {"*", "", true},
        {"*", "/anything", true},
        {"*.json", "/a/b.json", true},
        {"*.json", "/a/b.json?x.y", true},
        {"*.json", "/a/b.jsonx", false},
        {"/exact", "/exact", true},
        {"/exact", "/exact?", true},
        {"/exact", "/exact/", false},
        {"/a%20b", "/a%20b", true},
        {"/a%20b", "/a b", false},
        {"/x", "http://h.test/x?y", true},
        {"/", "http://h.test", true},
        {"/x", "http://h.test:8080/x", true},
};

Test(policy, path_glob_table)
{
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *c = &path_cases[i];
		cr_expect_eq(sm_policy_path_match(c->pat, c->target, strlen(c->target)), c->match,
		             "case %zu: %s vs %s", i, c->pat, c->target);
	}
}

Test(policy, fault_rolls_are_per_rule_and_stable_across_steps)
{
	struct sm_config *cfg = load("default_action: intercept\n"
	                             "rules:\n"
	                             "  - host: half.test\n"
	                             "    action: fault\n"
	                             "    fault: {status: 500, probability: 0.5}\n"
	                             "  - path: /half\n"
	                             "    action: fault\n"
	                             "    fault: {status: 503, probability: 0.5}\n"
	                             "  - path: /never\n"
	                             "    action: fault\n"
	                             "    fault: {status: 503, probability: 0}\n"
	                             "  - path: /always\n"
	                             "    action: fault\n"
	                             "    fault: {status: 503, probability: 1}\n");
	struct sockaddr_storage dest = sa("192.0.2.7");
	uint64_t rng = sm_rng_seed(42, 0);
	unsigned conn_fired = 0, req_fired = 0, never = 0, always = 0;
	for (int i = 0; i < 1000; i++) {
		struct sm_policy_input in = {
		        .host = "half.test", .host_len = 9, .port = 443, .roll = sm_rng_next(&rng)};
		struct sm_policy_decision pre, dst, sni, req;
		cr_assert_eq(sm_policy_decide_pre(cfg, &in, &pre), SM_OK);
		in.dest = (struct sockaddr *)&dest;
		cr_assert_eq(sm_policy_decide_dest(cfg, &in, &dst), SM_OK);
		cr_assert_eq(sm_policy_decide_sni(cfg, &in, &sni), SM_OK);
		in.method = "GET";
		in.method_len = 3;
		in.path = "/x";
		in.path_len = 2;
		in.request_roll = sm_rng_next(&rng);
		cr_assert_eq(sm_policy_decide_request(cfg, &in, &req), SM_OK);
		/* the same roll gives the same answer at every step */
		cr_assert_eq(pre.rule, dst.rule);
		cr_assert_eq(pre.rule, sni.rule);
		cr_assert_eq(pre.rule, req.rule);
		cr_assert(pre.rule == 0 || pre.rule == -1);
		cr_assert_eq(pre.request_rules, pre.rule == -1); /* rules 1..3 come after 0 */
		conn_fired += pre.rule == 0;

		in.host = "other.test";
		in.host_len = 10;
		in.path = "/half";
		in.path_len = 5;
		cr_assert_eq(sm_policy_decide_request(cfg, &in, &req), SM_OK);
		cr_assert(req.rule == 1 || req.rule == -1);
		req_fired += req.rule == 1;
		in.path = "/never";
		in.path_len = 6;
		cr_assert_eq(sm_policy_decide_request(cfg, &in, &req), SM_OK);
		never += req.rule == 2;
		in.path = "/always";
		in.path_len = 7;
		cr_assert_eq(sm_policy_decide_request(cfg, &in, &req), SM_OK);
		always += req.rule == 3;
	}
	/* Binomial(1000, 0.5): mean 500, sd 15.8; 440..560 is beyond 3.7 sd. */
	cr_expect(conn_fired >= 440 && conn_fired <= 560, "connection faults fired %u", conn_fired);
	cr_expect(req_fired >= 440 && req_fired <= 560, "request faults fired %u", req_fired);
	cr_expect_eq(never, 0);
	cr_expect_eq(always, 1000);
	sm_config_free(cfg);
}

Test(policy, request_with_a_bad_dest_is_refused)
{
	struct sm_config *cfg = load(request_yaml);
	struct sockaddr_storage bad = {.ss_family = AF_UNIX};
	struct sm_policy_input in = {.host = "api.example.test",
	                             .host_len = 16,
	                             .port = 443,
	                             .dest = (struct sockaddr *)&bad,
	                             .method = "GET",
	                             .method_len = 3,
	                             .path = "/v1/x",
	                             .path_len = 5};
	struct sm_policy_decision d;
	cr_assert_eq(sm_policy_decide_request(cfg, &in, &d), SM_ERR_INVALID);
	cr_assert_eq(d.rule, -1);
	cr_assert_eq(sm_policy_decide_dest(cfg, &in, &d), SM_ERR_INVALID);
	in.dest = NULL;
	cr_assert_eq(sm_policy_decide_request(cfg, &in, &d), SM_OK);
	cr_assert_eq(d.rule, 0);
	sm_config_free(cfg);
}

/* Property: over every combination of host, SNI and address, an early final
 * answer equals the final one, and step 4 without method/path-matching
 * requests agrees with step 3 unless request_rules was set. */
Test(policy, early_answers_agree_with_later_steps)
{
	struct sm_config *cfg = load(steps_yaml);
	const char *hosts[] = {"api.example.test", "a.pinned.test", "x.cdn.test", "f.test",
	                       "other.test",       "10.0.0.1",      "::1"};
	const char *snis[] = {NULL, "a.pinned.test", "evil.test", "api.example.test"};
	const char *dests[] = {"10.0.0.1", "8.8.8.8", "::1", "::ffff:10.9.9.9"};
	struct sockaddr_storage client = sa("127.0.0.1");
	size_t n = 0;
	for (size_t h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++)
		for (size_t s = 0; s < sizeof(snis) / sizeof(snis[0]); s++)
			for (size_t a = 0; a < sizeof(dests) / sizeof(dests[0]); a++) {
				struct sockaddr_storage dest = sa(dests[a]);
				struct sm_policy_input in = {.host = hosts[h],
				                             .host_len = strlen(hosts[h]),
				                             .port = 443,
				                             .client = (struct sockaddr *)&client,
				                             .roll = n++};
				struct sm_policy_decision pre, dst, fin, req;
				int prc = sm_policy_decide_pre(cfg, &in, &pre);
				in.dest = (struct sockaddr *)&dest;
				int drc = sm_policy_decide_dest(cfg, &in, &dst);
				in.sni = snis[s];
				in.sni_len = snis[s] ? strlen(snis[s]) : 0;
				cr_assert_eq(sm_policy_decide_sni(cfg, &in, &fin), SM_OK);
				if (prc == SM_OK)
					cr_assert_eq(pre.rule, fin.rule, "%s %s %s", hosts[h],
					             snis[s] ? snis[s] : "-", dests[a]);
				if (drc == SM_OK)
					cr_assert_eq(dst.rule, fin.rule, "%s %s %s", hosts[h],
					             snis[s] ? snis[s] : "-", dests[a]);
				in.method = "GET";
				in.method_len = 3;
				in.path = "/other";
				in.path_len = 6;
				cr_assert_eq(sm_policy_decide_request(cfg, &in, &req), SM_OK);
				cr_assert_eq(req.rule, fin.rule);
				in.path = "/v1/x";
				in.path_len = 5;
				cr_assert_eq(sm_policy_decide_request(cfg, &in, &req), SM_OK);
				if (!fin.request_rules)
					cr_assert_eq(req.rule, fin.rule);
			}
	sm_config_free(cfg);
}
