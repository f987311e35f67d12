/* Asynchronous name resolution for one reactor: c-ares with its sockets
 * polled through the reactor's io_uring (no getaddrinfo, no thread).
 *
 * Names found in the hosts table (read once at start-up, see core/hosts.h)
 * and IP literals never reach c-ares. c-ares is set to DNS-only lookups so it
 * never reads files on the reactor thread. */
#ifndef SM_CORE_DNS_H
#define SM_CORE_DNS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct sm_reactor;
struct sm_dns;
struct sm_hosts;

#define SM_DNS_MAX_ADDRS 8

/* Outcome of a lookup. */
enum sm_dns_status {
	SM_DNS_OK = 0,
	SM_DNS_NXDOMAIN, /* the name does not exist (or has no A/AAAA) */
	SM_DNS_TIMEOUT,  /* no answer within dns_timeout_ms */
	SM_DNS_ERROR,    /* server failure, refused, malformed answer, shutdown */
};

/* Called exactly once per sm_dns_resolve, on the reactor thread; addrs holds
 * n addresses with the port already set (IPv4 first as c-ares orders them). */
typedef void (*sm_dns_cb)(void *arg, enum sm_dns_status st, const struct sockaddr_storage *addrs,
                          int n);

/* servers: NULL for the system resolver (/etc/resolv.conf, read here at
 * start-up), or a c-ares CSV "127.0.0.1:5353,[::1]:53". */
struct sm_dns *sm_dns_create(struct sm_reactor *r, const char *servers, unsigned timeout_ms,
                             char *err, size_t errcap);
void sm_dns_destroy(struct sm_dns *d);

/* Checks a dns_servers string at start-up. SM_OK or SM_ERR_INVALID + err. */
int sm_dns_check_servers(const char *servers, char *err, size_t errcap);

void sm_dns_resolve(struct sm_dns *d, const char *name, uint16_t port, sm_dns_cb cb, void *arg);

/* Completion of a SM_OP_DNS_POLL op. */
void sm_dns_poll_cqe(struct sm_dns *d, uint32_t fd, uint32_t gen, int res);

/* Drives c-ares timeouts; call on every reactor tick. */
void sm_dns_tick(struct sm_dns *d);

/* True while lookups are outstanding (the reactor keeps its tick armed). */
bool sm_dns_busy(const struct sm_dns *d);

#endif
