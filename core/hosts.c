#include "core/hosts.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/result.h"

int sm_ip_literal(const char *name, uint16_t port, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	struct sockaddr_in *a4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
	if (inet_pton(AF_INET, name, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		return 1;
	}
	if (inet_pton(AF_INET6, name, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		return 1;
	}
	return 0;
}

static int add(struct sm_hosts *h, const char *ip, const char *name, size_t cap)
{
	if (h->n >= SM_HOSTS_MAX) {
		h->dropped++;
		return SM_OK;
	}
	if (h->n == cap)
		return SM_ERR_NOMEM;
	struct sm_hosts_entry *e = &h->e[h->n];
	size_t len = strlen(name);
	if (len == 0 || len >= sizeof(e->name) || !sm_ip_literal(ip, 0, &e->addr))
		return SM_OK;
	for (size_t k = 0; k <= len; k++)
		e->name[k] = (char)tolower((unsigned char)name[k]);
	h->n++;
	return SM_OK;
}

int sm_hosts_parse(struct sm_hosts *h, const char *buf, size_t len)
{
	memset(h, 0, sizeof(*h));
	size_t cap = SM_HOSTS_MAX;
	h->e = calloc(cap, sizeof(*h->e));
	if (!h->e)
		return SM_ERR_NOMEM;
	size_t pos = 0;
	while (pos < len) {
		char line[1024];
		size_t n = 0;
		while (pos < len && buf[pos] != '\n') {
			if (n < sizeof(line) - 1)
				line[n++] = buf[pos];
			pos++;
		}
		pos++;
		line[n] = 0;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		char *save = NULL;
		char *ip = strtok_r(line, " \t\r", &save);
		if (!ip)
			continue;
		char *name;
		while ((name = strtok_r(NULL, " \t\r", &save)))
			if (add(h, ip, name, cap) != SM_OK)
				return SM_ERR_NOMEM;
	}
	return SM_OK;
}

int sm_hosts_load(struct sm_hosts *h, const char *path)
{
	FILE *fp = fopen(path, "r");
	if (!fp)
		return sm_hosts_parse(h, "", 0);
	char *buf = malloc(1 << 20);
	if (!buf) {
		fclose(fp);
		return SM_ERR_NOMEM;
	}
	size_t len = fread(buf, 1, (1 << 20), fp);
	fclose(fp);
	int rc = sm_hosts_parse(h, buf, len);
	free(buf);
	return rc;
}

void sm_hosts_free(struct sm_hosts *h)
{
	free(h->e);
	memset(h, 0, sizeof(*h));
}

int sm_hosts_lookup(const struct sm_hosts *h, const char *name, uint16_t port,
                    struct sockaddr_storage *out, int max)
{
	int n = 0;
	for (size_t k = 0; k < h->n && n < max; k++) {
		if (strcasecmp(h->e[k].name, name) != 0)
			continue;
		out[n] = h->e[k].addr;
		if (out[n].ss_family == AF_INET)
			((struct sockaddr_in *)&out[n])->sin_port = htons(port);
		else
			((struct sockaddr_in6 *)&out[n])->sin6_port = htons(port);
		n++;
	}
	return n;
}
