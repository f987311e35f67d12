/* splice_relay: a bare TCP relay, the measuring instrument for the tunnel
 * lane's "CPU per GiB" target. Not part of the proxy.
 *
 *   splice_relay LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT
 *
 * Listens on 127.0.0.1:LISTEN_PORT; each accepted connection is connected to
 * the fixed upstream and relayed with blocking splice(2) socket -> pipe ->
 * socket, one thread per direction, 64 KiB per splice, half-close passed on
 * with shutdown(SHUT_WR). No parsing, no policy, no events: the least work a
 * user-space relay can do per byte. Prints "splice_relay: listening" on
 * stderr when ready; SIGTERM ends it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

struct pair {
	int cfd, ufd;
	int refs; /* directions still running; the last one closes both */
	pthread_mutex_t mu;
};

struct dir {
	struct pair *p;
	int from, to;
};

static struct sockaddr_storage g_up;
static socklen_t g_uplen;

static void release(struct pair *p)
{
	pthread_mutex_lock(&p->mu);
	int last = --p->refs == 0;
	pthread_mutex_unlock(&p->mu);
	if (last) {
		close(p->cfd);
		close(p->ufd);
		pthread_mutex_destroy(&p->mu);
		free(p);
	}
}

static void *pump(void *arg)
{
	struct dir *d = arg;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) == 0) {
		fcntl(pfd[1], F_SETPIPE_SZ, CHUNK);
		for (;;) {
			ssize_t n = splice(d->from, NULL, pfd[1], NULL, CHUNK, SPLICE_F_MOVE);
			if (n <= 0)
				break;
			while (n > 0) {
				ssize_t m =
				        splice(pfd[0], NULL, d->to, NULL, (size_t)n, SPLICE_F_MOVE);
				if (m <= 0)
					goto out;
				n -= m;
			}
		}
	out:
		close(pfd[0]);
		close(pfd[1]);
	}
	shutdown(d->to, SHUT_WR); /* pass the half-close on */
	struct pair *p = d->p;
	free(d);
	release(p);
	return NULL;
}

static int start_dir(struct pair *p, int from, int to)
{
	struct dir *d = malloc(sizeof(*d));
	if (!d)
		return -1;
	*d = (struct dir){.p = p, .from = from, .to = to};
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 64 * 1024);
	int rc = pthread_create(&t, &at, pump, d);
	pthread_attr_destroy(&at);
	if (rc != 0) {
		free(d);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: splice_relay LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	if (getaddrinfo(argv[2], argv[3], &hints, &res) != 0) {
		fprintf(stderr, "splice_relay: cannot resolve %s\n", argv[2]);
		return 2;
	}
	memcpy(&g_up, res->ai_addr, res->ai_addrlen);
	g_uplen = res->ai_addrlen;
	freeaddrinfo(res);

	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 1024) != 0) {
		perror("splice_relay: bind/listen");
		return 2;
	}
	fprintf(stderr, "splice_relay: listening on 127.0.0.1:%s -> %s:%s\n", argv[1], argv[2],
	        argv[3]);
	for (;;) {
		int cfd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			perror("splice_relay: accept");
			return 1;
		}
		int ufd = socket(g_up.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (ufd < 0 || connect(ufd, (struct sockaddr *)&g_up, g_uplen) != 0) {
			if (ufd >= 0)
				close(ufd);
			close(cfd);
			continue;
		}
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct pair *p = calloc(1, sizeof(*p));
		if (!p) {
			close(cfd);
			close(ufd);
			continue;
		}
		*p = (struct pair){.cfd = cfd, .ufd = ufd, .refs = 2};
		pthread_mutex_init(&p->mu, NULL);
		if (start_dir(p, cfd, ufd) != 0) {
			close(cfd);
			close(ufd);
			free(p);
			continue;
		}
		if (start_dir(p, ufd, cfd) != 0)
			release(p); /* the running direction ends when its peer closes */
	}
}
