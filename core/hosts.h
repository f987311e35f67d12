/* The hosts table (/etc/hosts), read once at start-up on the main thread so
 * lookups on a reactor never touch the disk. Immutable after load; shared
 * read-only by every reactor. At most SM_HOSTS_MAX entries are kept (the rest
 * are ignored and counted in `dropped`). */
#ifndef SM_CORE_HOSTS_H
#define SM_CORE_HOSTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SM_HOSTS_MAX 4096

struct sm_hosts_entry {
	char name[256];               /* lower case */
	struct sockaddr_storage addr; /* port 0 */
};

struct sm_hosts {
	struct sm_hosts_entry *e;
	size_t n;
	size_t dropped;
};

/* Loads path (missing file = empty table). Returns SM_OK or SM_ERR_NOMEM. */
int sm_hosts_load(struct sm_hosts *h, const char *path);

/* Parses a hosts-format buffer (also used by tests). */
int sm_hosts_parse(struct sm_hosts *h, const char *buf, size_t len);

void sm_hosts_free(struct sm_hosts *h);

/* Copies up to max addresses for name (case-insensitive) with port set.
 * Returns how many were found. */
int sm_hosts_lookup(const struct sm_hosts *h, const char *name, uint16_t port,
                    struct sockaddr_storage *out, int max);

/* Parses an IPv4 or IPv6 literal (no brackets) into out with port set.
 * Returns 1 on success, 0 if name is not an IP literal. */
int sm_ip_literal(const char *name, uint16_t port, struct sockaddr_storage *out);

#endif
