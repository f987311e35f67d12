#include "telemetry/collector.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/result.h"
#include "telemetry/admin.h"

#define BATCH   256
#define OUT_CAP (256 * 1024)

struct out_buf {
	char data[OUT_CAP];
	size_t len;
};

static void flush_fd(struct sm_collector *c, int fd, struct out_buf *o, uint64_t pending,
                     _Atomic uint64_t *written)
{
	size_t off = 0;
	while (off < o->len && fd >= 0) {
		ssize_t n = write(fd, o->data + off, o->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			atomic_fetch_add(&c->write_errors, pending);
			pending = 0;
			break;
		}
		off += (size_t)n;
	}
	atomic_fetch_add(written, pending);
	o->len = 0;
}

static void flush(struct sm_collector *c, struct out_buf *o, uint64_t pending)
{
	flush_fd(c, c->out_fd, o, pending, &c->lines);
}

/* "LABEL <client random> <secret>\n": the key log never shares the JSONL
 * stream, so secrets cannot end up where flow events are shipped. */
static void keylog_line(struct sm_collector *c, struct out_buf *k, const struct sm_event *ev)
{
	if (c->keylog_fd < 0)
		return;
	if (OUT_CAP - k->len < 3 * SM_EVENT_STR_MAX + 4)
		flush_fd(c, c->keylog_fd, k, 0, &c->keylog_lines);
	for (int s = 0; s < SM_EVENT_NSTR; s++) {
		memcpy(k->data + k->len, ev->s[s], ev->slen[s]);
		k->len += ev->slen[s];
		k->data[k->len++] = s + 1 < SM_EVENT_NSTR ? ' ' : '\n';
	}
	atomic_fetch_add(&c->keylog_lines, 1);
}

/* Returns the number of events drained. */
static size_t drain(struct sm_collector *c, struct out_buf *o, struct out_buf *k,
                    struct sm_event *batch)
{
	size_t total = 0;
	uint64_t pending = 0;
	for (int r = 0; r < c->nrings; r++) {
		size_t n;
		while ((n = sm_event_ring_pop(c->rings[r], batch, BATCH)) > 0) {
			for (size_t e = 0; e < n; e++) {
				if (batch[e].type == SM_EV_TLS_KEYLOG) {
					keylog_line(c, k, &batch[e]);
					continue;
				}
				if (OUT_CAP - o->len < SM_EVENT_JSON_MAX) {
					flush(c, o, pending);
					pending = 0;
				}
				size_t w = sm_event_to_json(&batch[e], o->data + o->len,
				                            OUT_CAP - o->len);
				if (!w) { /* cannot happen with the room above */
					atomic_fetch_add(&c->write_errors, 1);
					continue;
				}
				o->len += w;
				pending++;
			}
			total += n;
		}
	}
	if (o->len)
		flush(c, o, pending);
	if (k->len)
		flush_fd(c, c->keylog_fd, k, 0, &c->keylog_lines);
	return total;
}

/* One file opened again in place of fd. */
static void reopen_one(struct sm_collector *c, const char *path, int fd, mode_t mode)
{
	if (!path || fd < 0)
		return;
	int nfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode);
	if (nfd < 0 || dup3(nfd, fd, O_CLOEXEC) < 0) {
		atomic_fetch_add(&c->reopen_errors, 1); /* the old file goes on */
		if (nfd >= 0)
			close(nfd);
		return;
	}
	close(nfd);
	atomic_fetch_add(&c->reopens, 1);
}

void sm_collector_reopen(struct sm_collector *c)
{
	atomic_store(&c->reopen, true);
	uint64_t one = 1;
	ssize_t n = write(c->wake_fd, &one, sizeof(one));
	(void)n;
}

static void *collector_main(void *arg)
{
	struct sm_collector *c = arg;
	struct out_buf *out = malloc(sizeof(*out)), *klog = malloc(sizeof(*klog));
	struct sm_event *batch = malloc(BATCH * sizeof(*batch));
	if (!out || !klog || !batch) {
		free(out);
		free(klog);
		free(batch);
		atomic_store(&c->write_errors, UINT64_MAX);
		return NULL;
	}
	out->len = 0;
	klog->len = 0;
	struct pollfd pfd[2 + SM_ADMIN_MAX_CLIENTS];
	while (!atomic_load(&c->stop)) {
		pfd[0] = (struct pollfd){.fd = c->wake_fd, .events = POLLIN};
		int n_admin = c->admin ? sm_admin_pollfds(c->admin, pfd + 1) : 0;
		/* collector thread: it may block; reactors never wait on it */
		int rc = poll(pfd, (nfds_t)(1 + n_admin), 50);
		if (rc > 0 && (pfd[0].revents & POLLIN)) {
			uint64_t v;
			ssize_t n = read(c->wake_fd, &v, sizeof(v));
			(void)n;
		}
		drain(c, out, klog, batch);
		if (atomic_exchange(&c->reopen, false)) {
			/* what was pushed before the ask goes to the old files */
			drain(c, out, klog, batch);
			reopen_one(c, c->out_path, c->out_fd, 0644);
			reopen_one(c, c->keylog_path, c->keylog_fd, 0600);
		}
		if (c->admin) {
			if (rc <= 0)
				for (int k = 1; k <= n_admin; k++)
					pfd[k].revents = 0;
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			sm_admin_handle(c->admin, pfd + 1, n_admin,
			                (uint64_t)ts.tv_sec * 1000u +
			                        (uint64_t)ts.tv_nsec / 1000000u);
		}
	}
	drain(c, out, klog, batch);
	free(out);
	free(klog);
	free(batch);
	return NULL;
}

int sm_collector_start(struct sm_collector *c, struct sm_event_ring **rings, int nrings, int out_fd,
                       int keylog_fd, int wake_fd)
{
	c->rings = rings;
	c->nrings = nrings;
	c->out_fd = out_fd;
	c->keylog_fd = keylog_fd;
	c->wake_fd = wake_fd;
	atomic_store(&c->stop, false);
	atomic_store(&c->lines, 0);
	atomic_store(&c->write_errors, 0);
	atomic_store(&c->keylog_lines, 0);
	atomic_store(&c->reopen, false);
	if (pthread_create(&c->thread, NULL, collector_main, c) != 0)
		return SM_ERR_IO;
	c->started = true;
	return SM_OK;
}

void sm_collector_stop(struct sm_collector *c)
{
	if (!c->started)
		return;
	atomic_store(&c->stop, true);
	uint64_t one = 1;
	ssize_t n = write(c->wake_fd, &one, sizeof(one));
	(void)n;
	pthread_join(c->thread, NULL);
	c->started = false;
}
