#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/hosts.h"
#include "base/result.h"

static const char sample[] = "# comment\n"
                             "127.0.0.1\tlocalhost Local.Test # trailing\n"
                             "::1 localhost ip6-localhost\r\n"
                             "not-an-ip broken.test\n"
                             "\n"
                             "10.0.0.5 many.test\n"
                             "10.0.0.6 many.test";

Test(hosts, parses_names_case_insensitively_with_every_address)
{
	struct sm_hosts h;
	cr_assert_eq(sm_hosts_parse(&h, sample, strlen(sample)), SM_OK);
	struct sockaddr_storage out[8];
	int n = sm_hosts_lookup(&h, "LOCALHOST", 443, out, 8);
	cr_assert_eq(n, 2);
	cr_expect_eq(out[0].ss_family, AF_INET);
	cr_expect_eq(ntohs(((struct sockaddr_in *)&out[0])->sin_port), 443);
	cr_expect_eq(out[1].ss_family, AF_INET6);
	cr_expect_eq(sm_hosts_lookup(&h, "local.test", 80, out, 8), 1);
	cr_expect_eq(sm_hosts_lookup(&h, "broken.test", 80, out, 8), 0);
	cr_expect_eq(sm_hosts_lookup(&h, "many.test", 80, out, 1), 1, "max is honoured");
	cr_expect_eq(sm_hosts_lookup(&h, "many.test", 80, out, 8), 2);
	cr_expect_eq(sm_hosts_lookup(&h, "trailing", 80, out, 8), 0, "comments are ignored");
	sm_hosts_free(&h);
}

Test(hosts, ip_literals)
{
	struct sockaddr_storage a;
	cr_expect_eq(sm_ip_literal("192.0.2.1", 8080, &a), 1);
	cr_expect_eq(a.ss_family, AF_INET);
	cr_expect_eq(sm_ip_literal("2001:db8::1", 1, &a), 1);
	cr_expect_eq(a.ss_family, AF_INET6);
	cr_expect_eq(sm_ip_literal("example.test", 1, &a), 0);
	cr_expect_eq(sm_ip_literal("300.1.1.1", 1, &a), 0);
}

Test(hosts, entry_cap_is_enforced_and_counted)
{
	static char big[SM_HOSTS_MAX * 24 + 1000];
	size_t len = 0;
	for (int i = 0; i < SM_HOSTS_MAX + 10; i++)
		len += (size_t)snprintf(big + len, sizeof(big) - len, "10.0.%d.%d h%d\n",
		                        (i >> 8) & 255, i & 255, i);
	struct sm_hosts h;
	cr_assert_eq(sm_hosts_parse(&h, big, len), SM_OK);
	cr_expect_eq(h.n, SM_HOSTS_MAX);
	cr_expect_eq(h.dropped, 10);
	sm_hosts_free(&h);
}
