#include "base/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

static size_t clamp(int n, size_t cap)
{
	if (n < 0 || cap == 0)
		return 0;
	return (size_t)n >= cap ? cap - 1 : (size_t)n;
}

size_t sm_addr_format(const struct sockaddr *sa, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int n;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		n = snprintf(buf, cap, "%s:%u", ip, ntohs(a->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		n = snprintf(buf, cap, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else {
		n = snprintf(buf, cap, "?");
	}
	return clamp(n, cap);
}

size_t sm_addr_format_host(const char *host, uint16_t port, char *buf, size_t cap)
{
	bool v6 = strchr(host, ':') != NULL;
	int n = snprintf(buf, cap, v6 ? "[%s]:%u" : "%s:%u", host, port);
	return clamp(n, cap);
}
