#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "base/addr.h"

Test(addr, ipv4_and_ipv6_socket_addresses)
{
	char buf[SM_ADDR_MAX];
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(8080)};
	inet_pton(AF_INET, "127.0.0.1", &a4.sin_addr);
	cr_expect_eq(sm_addr_format((struct sockaddr *)&a4, buf, sizeof(buf)), 14);
	cr_expect_str_eq(buf, "127.0.0.1:8080");
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
	inet_pton(AF_INET6, "::1", &a6.sin6_addr);
	sm_addr_format((struct sockaddr *)&a6, buf, sizeof(buf));
	cr_expect_str_eq(buf, "[::1]:443");
	struct sockaddr other = {.sa_family = AF_UNIX};
	sm_addr_format(&other, buf, sizeof(buf));
	cr_expect_str_eq(buf, "?");
}

Test(addr, host_names_and_literals)
{
	char buf[SM_ADDR_MAX];
	sm_addr_format_host("example.com", 443, buf, sizeof(buf));
	cr_expect_str_eq(buf, "example.com:443");
	sm_addr_format_host("::1", 8443, buf, sizeof(buf));
	cr_expect_str_eq(buf, "[::1]:8443");
	cr_expect_eq(sm_addr_format_host("example.com", 443, buf, 8), 7); /* cut, terminated */
	cr_expect_str_eq(buf, "example");
}
