#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "base/result.h"

static struct sm_config *load_ok(const char *yaml)
{
	struct sm_config *cfg = NULL;
	char err[512] = "";
	int rc = sm_config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, err, sizeof(err));
	cr_assert_eq(rc, SM_OK, "load failed: %s\n---\n%s", err, yaml);
	cr_assert_not_null(cfg);
	return cfg;
}

static void cidr_is(const struct sm_cidr *c, const char *want)
{
	char buf[SM_CIDR_STRLEN];
	cr_assert_geq(sm_cidr_format(c, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, want);
}

static void listen_is(const struct sm_config_listen *l, const char *want)
{
	char a[INET6_ADDRSTRLEN], buf[80];
	if (l->addr.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&l->addr;
		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(buf, sizeof(buf), "%s:%u", a, ntohs(in->sin_port));
		cr_assert_eq(l->addrlen, sizeof(*in));
	} else {
		const struct sockaddr_in6 *in6 = (const void *)&l->addr;
		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(buf, sizeof(buf), "[%s]:%u", a, ntohs(in6->sin6_port));
		cr_assert_eq(l->addrlen, sizeof(*in6));
	}
	cr_assert_str_eq(buf, want);
}

static void check_defaults(const struct sm_config *cfg)
{
	cr_assert_eq(cfg->n_listen, 1);
	listen_is(&cfg->listen[0], "127.0.0.1:8080");
	cr_assert_eq(cfg->threads, 0);
	cr_assert_eq(cfg->default_action, SM_ACTION_INTERCEPT);
	cr_assert_eq(cfg->n_allow_clients, 2);
	cidr_is(&cfg->allow_clients[0], "127.0.0.0/8");
	cidr_is(&cfg->allow_clients[1], "::1/128");
	cr_assert_eq(cfg->n_rules, 0);
	cr_assert_null(cfg->events);
	cr_assert_null(cfg->dns_servers);
	cr_assert_eq(cfg->timeouts.connect_timeout_ms, 10000);
	cr_assert_eq(cfg->timeouts.idle_timeout_ms, 300000);
	cr_assert_eq(cfg->timeouts.dns_timeout_ms, 5000);
	cr_assert_eq(cfg->timeouts.shutdown_grace_ms, 5000);
	cr_assert_eq(cfg->limits.max_flows_per_thread, 65536);
	cr_assert_eq(cfg->limits.max_header_bytes, 16384);
	cr_assert_eq(cfg->limits.event_ring_size, 65536);
}

Test(config, defaults)
{
	struct sm_config *cfg = sm_config_default();
	cr_assert_not_null(cfg);
	cr_assert_str_eq(cfg->source, "<default>");
	check_defaults(cfg);
	sm_config_free(cfg);
}

Test(config, empty_documents_give_defaults)
{
	const char *docs[] = {"", "\n", "# only a comment\n", "---\n", "{}\n", "---\n...\n"};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct sm_config *cfg = load_ok(docs[i]);
		cr_assert_str_eq(cfg->source, "t.yaml");
		check_defaults(cfg);
		sm_config_free(cfg);
	}
}

Test(config, full_file)
{
	struct sm_config *cfg = load_ok("listen: [\"0.0.0.0:3128\", \"[::1]:3129\"]\n"
	                                "threads: 4\n"
	                                "default_action: block\n"
	                                "allow_clients:\n"
	                                "  - 10.0.0.0/8\n"
	                                "  - 2001:db8::/32\n"
	                                "  - ::ffff:192.168.0.0/112\n"
	                                "events: /var/log/soth/events.jsonl\n"
	                                "dns_servers: \"127.0.0.1:5353,[::1]:53\"\n"
	                                "timeouts:\n"
	                                "  connect_timeout_ms: 2000\n"
	                                "  idle_timeout_ms: 60000\n"
	                                "  dns_timeout_ms: 1500\n"
	                                "  shutdown_grace_ms: 0\n"
	                                "limits:\n"
	                                "  max_flows_per_thread: 1000\n"
	                                "  max_header_bytes: 8192\n"
	                                "  event_ring_size: 1024\n"
	                                "rules:\n"
	                                "  - name: no internal\n"
	                                "    dest: [10.0.0.0/8, \"fd00::/8\"]\n"
	                                "    action: block\n"
	                                "  - host: \"*.Example.TEST\"\n"
	                                "    port: [443, 8443]\n"
	                                "    client: 10.1.0.0/16\n"
	                                "    action: intercept\n"
	                                "  - host: plain.test.\n"
	                                "    port: 80\n"
	                                "    action: tunnel\n"
	                                "  - action: block\n");
	cr_assert_eq(cfg->n_listen, 2);
	listen_is(&cfg->listen[0], "0.0.0.0:3128");
	listen_is(&cfg->listen[1], "[::1]:3129");
	cr_assert_eq(cfg->threads, 4);
	cr_assert_eq(cfg->default_action, SM_ACTION_BLOCK);
	cr_assert_eq(cfg->n_allow_clients, 3);
	cidr_is(&cfg->allow_clients[0], "10.0.0.0/8");
	cidr_is(&cfg->allow_clients[1], "2001:db8::/32");
	cidr_is(&cfg->allow_clients[2], "192.168.0.0/16"); /* mapped prefix folded to IPv4 */
	cr_assert_str_eq(cfg->events, "/var/log/soth/events.jsonl");
	cr_assert_str_eq(cfg->dns_servers, "127.0.0.1:5353,[::1]:53");
	cr_assert_eq(cfg->timeouts.connect_timeout_ms, 2000);
	cr_assert_eq(cfg->timeouts.idle_timeout_ms, 60000);
	cr_assert_eq(cfg->timeouts.dns_timeout_ms, 1500);
	cr_assert_eq(cfg->timeouts.shutdown_grace_ms, 0);
	cr_assert_eq(cfg->limits.max_flows_per_thread, 1000);
	cr_assert_eq(cfg->limits.max_header_bytes, 8192);
	cr_assert_eq(cfg->limits.event_ring_size, 1024);

	cr_assert_eq(cfg->n_rules, 4);
	const struct sm_rule *r = cfg->rules;
	cr_assert_str_eq(r[0].name, "no internal");
	cr_assert_null(r[0].host);
	cr_assert_eq(r[0].n_ports, 0);
	cr_assert_eq(r[0].n_clients, 0);
	cr_assert_eq(r[0].n_dests, 2);
	cidr_is(&r[0].dests[1], "fd00::/8");
	cr_assert_eq(r[0].action, SM_ACTION_BLOCK);
	cr_assert_eq(r[0].line, 20);
	cr_assert_str_eq(r[0].desc, "rules[0] \"no internal\" dest 10.0.0.0/8,fd00::/8");

	cr_assert_null(r[1].name);
	cr_assert_str_eq(r[1].host, "*.example.test");
	cr_assert_eq(r[1].n_ports, 2);
	cr_assert_eq(r[1].ports[0], 443);
	cr_assert_eq(r[1].ports[1], 8443);
	cr_assert_eq(r[1].n_clients, 1);
	cr_assert_eq(r[1].action, SM_ACTION_INTERCEPT);
	cr_assert_str_eq(r[1].desc,
	                 "rules[1] host \"*.example.test\" port 443,8443 client 10.1.0.0/16");
	cr_assert_eq(r[2].n_ports, 1);
	cr_assert_eq(r[2].ports[0], 80);
	cr_assert_str_eq(r[2].desc, "rules[2] host \"plain.test\" port 80");
	cr_assert_eq(r[3].action, SM_ACTION_BLOCK);
	cr_assert_str_eq(r[3].desc, "rules[3]");
	sm_config_free(cfg);
}

Test(config, scalar_forms)
{
	/* A single scalar is a one-item list; quoted integers are accepted;
	 * null events means none; flow style works. */
	struct sm_config *cfg = load_ok("listen: 127.0.0.1:9000\n"
	                                "allow_clients: 0.0.0.0/0\n"
	                                "threads: \"2\"\n"
	                                "events: ~\n"
	                                "rules: [{host: a.test, action: block}]\n");
	cr_assert_eq(cfg->n_listen, 1);
	listen_is(&cfg->listen[0], "127.0.0.1:9000");
	cr_assert_eq(cfg->n_allow_clients, 1);
	cidr_is(&cfg->allow_clients[0], "0.0.0.0/0");
	cr_assert_eq(cfg->threads, 2);
	cr_assert_null(cfg->events);
	cr_assert_eq(cfg->n_rules, 1);
	sm_config_free(cfg);

	cfg = load_ok("events: \"-\"\nrules:\nlisten: \"[::1]:0\"\n");
	listen_is(&cfg->listen[0], "[::1]:0");
	cr_assert_str_eq(cfg->events, "-");
	cr_assert_eq(cfg->n_rules, 0);
	sm_config_free(cfg);
}

struct bad_case {
	const char *yaml;
	const char *err;
};

/* Every broken file names file:line:col, the key path and what was expected. */
static const struct bad_case bad_cases[] = {
        {"rules:\n  - host: a.test\n    action: block\n  - host: b.test\n    port: http\n"
         "    action: block\n",
         "t.yaml:5:11: rules[1].port: expected an integer 1..65535, got \"http\""},
        {"thread: 4\n", "t.yaml:1:1: thread: unknown key"},
        {"timeouts:\n  connect_ms: 5\n", "t.yaml:2:3: timeouts.connect_ms: unknown key"},
        {"limits:\n  threads: 5\n", "t.yaml:2:3: limits.threads: unknown key"},
        {"timeouts.connect_timeout_ms: 5\n",
         "t.yaml:1:1: timeouts.connect_timeout_ms: unknown key"},
        {"threads: 2\nthreads: 3\n", "t.yaml:2:1: threads: duplicate key"},
        {"threads: -1\n", "t.yaml:1:10: threads: expected an integer 0..1024, got \"-1\""},
        {"threads: 1025\n", "t.yaml:1:10: threads: expected an integer 0..1024, got \"1025\""},
        {"threads: 99999999999\n",
         "t.yaml:1:10: threads: expected an integer 0..1024, got \"99999999999\""},
        {"threads: [1]\n", "t.yaml:1:10: threads: expected a scalar value, got a sequence"},
        {"threads:\n", "t.yaml:1:9: threads: expected an integer 0..1024, got \"\""},
        {"default_action: allow\n",
         "t.yaml:1:17: default_action: expected one of tunnel, block, intercept, got \"allow\""},
        {"default_action: fault\n",
         "t.yaml:1:17: default_action: expected one of tunnel, block, intercept, got \"fault\""},
        {"default_action: Block\n",
         "t.yaml:1:17: default_action: expected one of tunnel, block, intercept, got \"Block\""},
        {"listen: 127.0.0.1\n", "t.yaml:1:9: listen: expected ADDR:PORT (IPv4 or [IPv6], port "
                                "0..65535, 0 = any free port), got "
                                "\"127.0.0.1\""},
        {"listen:\n  - 127.0.0.1:80\n  - \"::1:80\"\n",
         "t.yaml:3:5: listen[1]: expected ADDR:PORT (IPv4 or [IPv6], port 0..65535, 0 = any free "
         "port), got "
         "\"::1:80\""},
        {"listen: [\"[::1]:65536\"]\n", "t.yaml:1:10: listen[0]: expected ADDR:PORT (IPv4 or "
                                        "[IPv6], port 0..65535, 0 = any free port), got "
                                        "\"[::1]:65536\""},
        {"listen: localhost:80\n", "t.yaml:1:9: listen: expected ADDR:PORT (IPv4 or [IPv6], port "
                                   "0..65535, 0 = any free port), got "
                                   "\"localhost:80\""},
        {"listen: []\n",
         "t.yaml:1:9: listen: expected ADDR:PORT or a non-empty list of them, got nothing"},
        {"listen:\n",
         "t.yaml:1:8: listen: expected ADDR:PORT or a non-empty list of them, got nothing"},
        {"listen: {a: 1}\n",
         "t.yaml:1:9: listen: expected ADDR:PORT or a non-empty list of them, got a mapping"},
        {"allow_clients: [10.1.2.3/8]\n",
         "t.yaml:1:17: allow_clients[0]: host bits set in \"10.1.2.3/8\" (did you mean "
         "10.0.0.0/8?)"},
        {"allow_clients: [10.0.0.0/33]\n",
         "t.yaml:1:17: allow_clients[0]: expected a CIDR (IPv4 or IPv6 address, optional /LEN), "
         "got \"10.0.0.0/33\""},
        {"allow_clients: [[10.0.0.0/8]]\n",
         "t.yaml:1:17: allow_clients[0]: expected a CIDR, got a sequence"},
        {"events: [a]\n", "t.yaml:1:9: events: expected a scalar value, got a sequence"},
        {"timeouts: 5\n", "t.yaml:1:11: timeouts: expected a mapping of keys, got a scalar"},
        {"timeouts:\n  connect_timeout_ms: 0\n",
         "t.yaml:2:23: timeouts.connect_timeout_ms: expected an integer 1..86400000, got \"0\""},
        {"limits:\n  event_ring_size: 1000\n",
         "t.yaml:2:20: limits.event_ring_size: expected a power of two 64..16777216, got "
         "\"1000\""},
        {"limits:\n  max_header_bytes: 100\n",
         "t.yaml:2:21: limits.max_header_bytes: expected an integer 1024..1048576, got \"100\""},
        {"rules: 3\n", "t.yaml:1:8: rules: expected a list of rules, got a scalar"},
        {"rules:\n  - block\n",
         "t.yaml:2:5: rules[0]: expected a mapping with an action, got a scalar"},
        {"rules:\n  - host: a.test\n", "t.yaml:2:5: rules[0]: missing required key \"action\""},
        {"rules:\n  - hosts: a.test\n    action: block\n",
         "t.yaml:2:5: rules[0].hosts: unknown key"},
        {"rules:\n  - action: block\n    action: tunnel\n",
         "t.yaml:3:5: rules[0].action: duplicate key"},
        {"rules:\n  - action: deny\n", "t.yaml:2:13: rules[0].action: expected one of tunnel, "
                                       "block, intercept, fault, got \"deny\""},
        {"rules:\n  - host: \"a b.test\"\n    action: block\n",
         "t.yaml:2:11: rules[0].host: expected a host name or glob (letters, digits, '-', '.', "
         "'_', ':', '*'), got \"a b.test\""},
        {"rules:\n  - host: [a.test]\n    action: block\n",
         "t.yaml:2:11: rules[0].host: expected a host name or glob, got a sequence"},
        {"rules:\n  - port: [80, 0]\n    action: block\n",
         "t.yaml:2:16: rules[0].port[1]: expected an integer 1..65535, got \"0\""},
        {"rules:\n  - port: []\n    action: block\n",
         "t.yaml:2:11: rules[0].port: expected an integer 1..65535 or a non-empty list of them, "
         "got nothing"},
        {"rules:\n  - dest: 10.0.0.1/8\n    action: block\n",
         "t.yaml:2:11: rules[0].dest: host bits set in \"10.0.0.1/8\" (did you mean "
         "10.0.0.0/8?)"},
        {"rules:\n  - client: nowhere\n    action: block\n",
         "t.yaml:2:13: rules[0].client: expected a CIDR (IPv4 or IPv6 address, optional /LEN), "
         "got \"nowhere\""},
        {"rules:\n  - name: \"bad\\nname\"\n    action: block\n",
         "t.yaml:2:11: rules[0].name: expected a name of 1..128 printable ASCII characters, got "
         "\"bad\\x0aname\""},
        {"- a\n- b\n", "t.yaml:1:1: expected a mapping of keys, got a sequence"},
        {"[a]: 1\n", "t.yaml:1:1: expected a key name, got a sequence"},
        {"threads: 2\n---\nthreads: 3\n", "t.yaml:3:1: expected a single YAML document"},
        {"---\n---\nthreads: 3\n", "t.yaml:3:1: expected a single YAML document"},
        {"a: &x 1\nb: *x\n", "t.yaml:1:1: a: unknown key"},
        {"rules:\n  - &r {action: block}\n  - *r\n",
         "t.yaml:2:5: rules[1]: anchors and aliases are not supported"},
        {"threads: [1\n",
         "t.yaml:2:1: syntax error: did not find expected ',' or ']' (while parsing a flow "
         "sequence at line 1)"},
        {"threads: 1\n\tlisten: x\n",
         "t.yaml:2:1: syntax error: found a tab character that violates indentation (while "
         "scanning a plain scalar at line 1)"},
        {"threads: \"1\x01\"\n", "t.yaml:1:12: syntax error: control characters are not allowed"},
};

Test(config, broken_files_name_line_and_column)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct sm_config *cfg = (struct sm_config *)0x1;
		char err[512] = "";
		int rc = sm_config_load_buffer("t.yaml", bad_cases[i].yaml,
		                               strlen(bad_cases[i].yaml), &cfg, err, sizeof(err));
		cr_expect_eq(rc, SM_ERR_INVALID, "case %zu: rc %d", i, rc);
		cr_expect_null(cfg, "case %zu", i);
		cr_expect_str_eq(err, bad_cases[i].err, "case %zu:\n got  %s\n want %s", i, err,
		                 bad_cases[i].err);
	}
}

Test(config, error_buffer_is_truncated_not_overrun)
{
	struct sm_config *cfg;
	char err[16];
	memset(err, 'x', sizeof(err));
	int rc = sm_config_load_buffer("t.yaml", "thread: 4\n", 10, &cfg, err, 12);
	cr_assert_eq(rc, SM_ERR_INVALID);
	cr_assert_str_eq(err, "t.yaml:1:1:");
	cr_assert_eq(err[12], 'x');
}

Test(config, file_errors)
{
	struct sm_config *cfg = (struct sm_config *)0x1;
	char err[256];
	int rc = sm_config_load_file("/nonexistent/soth.yaml", &cfg, err, sizeof(err));
	cr_assert_eq(rc, SM_ERR_IO);
	cr_assert_null(cfg);
	cr_assert_str_eq(err, "/nonexistent/soth.yaml: cannot open: No such file or directory");

	char path[] = "/tmp/soth-config-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	FILE *f = fdopen(fd, "w");
	for (unsigned i = 0; i <= SM_CONFIG_MAX_FILE_BYTES / 16; i++)
		fputs("# padding.......\n", f);
	fclose(f);
	rc = sm_config_load_file(path, &cfg, err, sizeof(err));
	cr_assert_eq(rc, SM_ERR_LIMIT);
	char want[256];
	snprintf(want, sizeof(want), "%s: larger than 1048576 bytes", path);
	cr_assert_str_eq(err, want);

	f = fopen(path, "w");
	fputs("threads: 3\nrules:\n  - port: 70000\n    action: block\n", f);
	fclose(f);
	rc = sm_config_load_file(path, &cfg, err, sizeof(err));
	cr_assert_eq(rc, SM_ERR_INVALID);
	snprintf(want, sizeof(want),
	         "%s:3:11: rules[0].port: expected an integer 1..65535, got \"70000\"", path);
	cr_assert_str_eq(err, want);
	unlink(path);
}

Test(config, example_file_loads)
{
	struct sm_config *cfg = NULL;
	char err[512] = "";
	int rc = sm_config_load_file(SM_SOURCE_DIR "/docs/example.yaml", &cfg, err, sizeof(err));
	cr_assert_eq(rc, SM_OK, "%s", err);
	cr_assert_gt(cfg->n_rules, 0);
	sm_config_free(cfg);
}

/* ---- --set ---- */

Test(config, set_overrides)
{
	char err[256] = "";
	struct sm_config *cfg = load_ok("threads: 2\nlisten: [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n");
	cr_assert_eq(sm_config_set(cfg, "default_action=block", err, sizeof(err)), SM_OK, "%s",
	             err);
	cr_assert_eq(cfg->default_action, SM_ACTION_BLOCK);
	cr_assert_eq(sm_config_set(cfg, "listen=127.0.0.1:9000", err, sizeof(err)), SM_OK, "%s",
	             err);
	cr_assert_eq(cfg->n_listen, 1);
	listen_is(&cfg->listen[0], "127.0.0.1:9000");
	cr_assert_eq(sm_config_set(cfg, "listen=[::]:8443, 0.0.0.0:8080", err, sizeof(err)), SM_OK,
	             "%s", err);
	cr_assert_eq(cfg->n_listen, 2);
	listen_is(&cfg->listen[0], "[::]:8443");
	listen_is(&cfg->listen[1], "0.0.0.0:8080");
	cr_assert_eq(sm_config_set(cfg, "timeouts.connect_timeout_ms=2000", err, sizeof(err)),
	             SM_OK);
	cr_assert_eq(cfg->timeouts.connect_timeout_ms, 2000);
	cr_assert_eq(sm_config_set(cfg, "allow_clients=10.0.0.0/8,::1/128", err, sizeof(err)),
	             SM_OK);
	cr_assert_eq(cfg->n_allow_clients, 2);
	cidr_is(&cfg->allow_clients[0], "10.0.0.0/8");
	cidr_is(&cfg->allow_clients[1], "::1/128");
	cr_assert_eq(sm_config_set(cfg, "threads=0", err, sizeof(err)), SM_OK);
	cr_assert_eq(cfg->threads, 0);
	cr_assert_eq(sm_config_set(cfg, "limits.event_ring_size=128", err, sizeof(err)), SM_OK);
	cr_assert_eq(cfg->limits.event_ring_size, 128);
	cr_assert_eq(sm_config_set(cfg, "events=-", err, sizeof(err)), SM_OK);
	cr_assert_str_eq(cfg->events, "-");
	cr_assert_eq(sm_config_set(cfg, "events=", err, sizeof(err)), SM_OK);
	cr_assert_null(cfg->events);
	cr_assert_eq(sm_config_set(cfg, "dns_servers=127.0.0.1:5353", err, sizeof(err)), SM_OK);
	cr_assert_str_eq(cfg->dns_servers, "127.0.0.1:5353");
	sm_config_free(cfg);
}

struct set_case {
	const char *kv;
	const char *err;
};

static const struct set_case bad_sets[] = {
        {"timeouts.connect_ms=5", "--set timeouts.connect_ms: unknown key"},
        {"thread=4", "--set thread: unknown key"},
        {"timeouts=5", "--set timeouts: unknown key"},
        {"threads", "--set \"threads\": expected key=value"},
        {"=5", "--set \"\": unknown key"},
        {"threads=x", "--set threads: expected an integer 0..1024, got \"x\""},
        {"threads=", "--set threads: expected an integer 0..1024, got \"\""},
        {"default_action=allow",
         "--set default_action: expected one of tunnel, block, intercept, got \"allow\""},
        {"listen=127.0.0.1:1,nope", "--set listen: expected ADDR:PORT (IPv4 or [IPv6], port "
                                    "0..65535, 0 = any free port), got \"nope\""},
        {"listen=", "--set listen: expected ADDR:PORT (IPv4 or [IPv6], port 0..65535, 0 = any free "
                    "port), got \"\""},
        {"allow_clients=10.0.0.0/8,10.0.0.1/8",
         "--set allow_clients: host bits set in \"10.0.0.1/8\" (did you mean 10.0.0.0/8?)"},
        {"rules=x", "--set rules: rules can only be set in the configuration file"},
        {"rules[0].action=block", "--set rules[0].action: rules can only be set in the "
                                  "configuration file"},
        {"limits.event_ring_size=100",
         "--set limits.event_ring_size: expected a power of two 64..16777216, got \"100\""},
};

Test(config, set_errors_name_the_key_and_change_nothing)
{
	struct sm_config *cfg = sm_config_default();
	for (size_t i = 0; i < sizeof(bad_sets) / sizeof(bad_sets[0]); i++) {
		char err[256] = "";
		cr_expect_eq(sm_config_set(cfg, bad_sets[i].kv, err, sizeof(err)), SM_ERR_INVALID,
		             "%s", bad_sets[i].kv);
		cr_expect_str_eq(err, bad_sets[i].err, "case %zu:\n got  %s\n want %s", i, err,
		                 bad_sets[i].err);
	}
	check_defaults(cfg);
	sm_config_free(cfg);
}

Test(config, action_names)
{
	cr_assert_str_eq(sm_action_name(SM_ACTION_TUNNEL), "tunnel");
	cr_assert_str_eq(sm_action_name(SM_ACTION_BLOCK), "block");
	cr_assert_str_eq(sm_action_name(SM_ACTION_INTERCEPT), "intercept");
	cr_assert_str_eq(sm_action_name(SM_ACTION_FAULT), "fault");
	cr_assert_str_eq(sm_action_name((enum sm_action)42), "unknown");
}

/* One schema drives the file and --set: every key of the table, set to a
 * value of its kind through a file (nested in its section) and through
 * --set, gives the same configuration; a section the table has is
 * accepted in the file. */
#include "core/config_int.h"

static const char *sample(const struct sm_config_key *k)
{
	switch (k->kind) {
	case K_U32: return k->max >= 4096 ? "4096" : "64";
	case K_U64: return "12345678901";
	case K_POW2: return "1024";
	case K_ACTION: return "block";
	case K_PATH: return "/tmp/x";
	case K_ADDR: return "127.0.0.1:9999";
	case K_BOOL: return "true";
	}
	return "";
}

static size_t field_size(const struct sm_config_key *k)
{
	switch (k->kind) {
	case K_U32:
	case K_POW2: return sizeof(uint32_t);
	case K_U64: return sizeof(uint64_t);
	case K_ACTION: return sizeof(enum sm_action);
	case K_BOOL: return sizeof(bool);
	default: return 0; /* strings: compared as strings */
	}
}

Test(config, every_key_through_the_file_and_set_alike)
{
	char err[512];
	for (size_t i = 0; i < sm_config_n_keys; i++) {
		const struct sm_config_key *k = &sm_config_keys[i];
		const char *v = sample(k);
		if (!strcmp(k->path, "tls.non_tls"))
			v = "tunnel"; /* intercept and fault are refused there */
		char yaml[512];
		const char *dot = strchr(k->path, '.');
		if (dot)
			snprintf(yaml, sizeof(yaml), "%.*s:\n  %s: %s\n", (int)(dot - k->path),
			         k->path, dot + 1, v);
		else
			snprintf(yaml, sizeof(yaml), "%s: %s\n", k->path, v);
		struct sm_config *a = NULL;
		cr_assert_eq(
		        sm_config_load_buffer("t.yaml", yaml, strlen(yaml), &a, err, sizeof(err)),
		        SM_OK, "%s in a file: %s", k->path, err);
		struct sm_config *b = sm_config_default();
		char kv[256];
		snprintf(kv, sizeof(kv), "%s=%s", k->path, v);
		cr_assert_eq(sm_config_set(b, kv, err, sizeof(err)), SM_OK, "%s: %s", kv, err);
		const char *fa = (const char *)a + k->off, *fb = (const char *)b + k->off;
		size_t n = field_size(k);
		if (n)
			cr_assert(!memcmp(fa, fb, n), "%s differs between the file and --set",
			          k->path);
		else
			cr_assert_str_eq(*(const char *const *)fa, *(const char *const *)fb, "%s",
			                 k->path);
		sm_config_free(a);
		sm_config_free(b);
	}
}

struct warned {
	char lines[8][512];
	size_t n;
};

static void collect(void *arg, const char *line)
{
	struct warned *w = arg;
	if (w->n < 8)
		snprintf(w->lines[w->n++], sizeof(w->lines[0]), "%s", line);
}

Test(config, warnings_for_unsafe_setups)
{
	static const struct {
		const char *yaml;
		const char *want; /* NULL: no warning */
	} cases[] = {
	        {"listen: 0.0.0.0:8080\nallow_clients: 0.0.0.0/0\n",
	         "listener 0.0.0.0:8080 is not on a loopback address and allow_clients admits "
	         "every address (0.0.0.0/0)"},
	        {"listen: \"[::]:8080\"\nallow_clients: \"::/0\"\n",
	         "listener [::]:8080 is not on a loopback address and allow_clients admits every "
	         "address (::/0)"},
	        {"listen: 10.1.2.3:8080\nallow_clients: [10.0.0.0/8, 0.0.0.0/0]\n",
	         "listener 10.1.2.3:8080"},
	        /* the family the listener receives is what counts */
	        {"listen: \"[::]:8080\"\nallow_clients: 0.0.0.0/0\n", NULL},
	        {"listen: 0.0.0.0:8080\nallow_clients: \"::/0\"\n", NULL},
	        {"listen: 0.0.0.0:8080\n", NULL}, /* allow_clients: loopback by default */
	        {"listen: [127.0.0.2:8080, \"[::1]:8080\", \"[::ffff:127.0.0.1]:8080\"]\n"
	         "allow_clients: [0.0.0.0/0, \"::/0\"]\n",
	         NULL},
	        {"admin: 0.0.0.0:9100\n", "admin endpoint 0.0.0.0:9100 is not on a loopback"},
	        {"admin: \"[::]:9100\"\n", "admin endpoint [::]:9100 is not on a loopback"},
	        {"admin: \"[::1]:9100\"\n", NULL},
	        {"tls:\n  insecure_hosts: \"a.test,**,b.test\"\n",
	         "tls.insecure_hosts \"**\" matches every host"},
	        {"tls:\n  insecure_hosts: \"*.test,a*\"\n", NULL},
	        {"listen: [127.0.0.1:8080, 127.0.0.1:8081, 127.0.0.1:8080]\n",
	         "listen address 127.0.0.1:8080 is given more than once"},
	        {"listen: [127.0.0.1:0, 127.0.0.1:0]\n", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sm_config *cfg = load_ok(cases[i].yaml);
		struct warned w = {.n = 0};
		size_t n = sm_config_warnings(cfg, collect, &w);
		cr_assert_eq(n, w.n);
		if (!cases[i].want) {
			cr_assert_eq(n, 0, "%s: %s", cases[i].yaml, w.lines[0]);
		} else {
			cr_assert_eq(n, 1, "%s: %zu warnings", cases[i].yaml, n);
			cr_assert_not_null(strstr(w.lines[0], cases[i].want), "%s: %s",
			                   cases[i].yaml, w.lines[0]);
		}
		sm_config_free(cfg);
	}
}

/* Kill switches: `disable:` turns features off over the file's own
 * switches and over --set; unknown names are refused where they stand. */
Test(config, disable_is_a_kill_switch)
{
	struct sm_config *cfg =
	        load_ok("http2: true\nobserve:\n  decoders: true\ndisable: [http2, decoders]\n");
	cr_assert(!cfg->http2 && !cfg->http2_upstream_for_h1_clients && !cfg->observe.decoders);
	cr_assert(cfg->observe.sse, "what is not named stays");
	char err[256];
	cr_assert_eq(sm_config_set(cfg, "http2=true", err, sizeof(err)), SM_OK);
	sm_config_apply_disable(cfg);
	cr_assert(!cfg->http2, "a kill switch wins over --set");
	sm_config_free(cfg);
	cfg = load_ok("disable: websocket\n");
	cr_assert(!cfg->observe.websocket && cfg->http2);
	sm_config_free(cfg);
	cfg = load_ok("disable: []\n");
	cr_assert_eq(cfg->disabled, 0);
	sm_config_free(cfg);
	cr_assert_neq(sm_config_load_buffer("t.yaml", "disable: [sse, http3]\n", 22, &cfg, err,
	                                    sizeof(err)),
	              SM_OK);
	cr_assert(strstr(err, "t.yaml:1:16: disable[1]: expected one of http2"), "%s", err);
}
