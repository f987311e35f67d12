/* Address formatting, one way for the whole codebase: events, error pages
 * and logs print an IPv6 address in brackets ("[::1]:443") and an IPv4
 * address or a name as it is ("127.0.0.1:443", "example.com:443"), so a
 * reader can always split host from port at the last colon. */
#ifndef SM_BASE_ADDR_H
#define SM_BASE_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest text either function writes, NUL included: a bracketed IPv6
 * address and port, or a 255-byte name, ':' and a port. */
#define SM_ADDR_MAX 264

/* "ip:port" or "[ip6]:port" of sa ("?" for another family) into buf, NUL
 * terminated and cut to cap. Returns the length written. */
size_t sm_addr_format(const struct sockaddr *sa, char *buf, size_t cap);

/* "host:port", with host in brackets when it is an IPv6 literal (it holds a
 * ':'), into buf, NUL terminated and cut to cap. Returns the length. */
size_t sm_addr_format_host(const char *host, uint16_t port, char *buf, size_t cap);

#endif
