#include "telemetry/collector.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/result.h"
#include "telemetry/admin.h"

#define BATCH   256
#define OUT_CAP (256 * 1024)

struct out_buf {
	char data[OUT_CAP];
	size_t len;
};

static void flush(struct sm_collector *c, struct out_buf *o, uint64_t pending)
{
	size_t off = 0;
	while (off < o->len && c->out_fd >= 0) {
		ssize_t n = write(c->out_fd, o->data + off, o->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			atomic_fetch_add(&c->write_errors, pending);
			pending = 0;
			break;
		}
		off += (size_t)n;
	}
	atomic_fetch_add(&c->lines, pending);
	o->len = 0;
}

/* Returns the number of events drained. */
static size_t drain(struct sm_collector *c, struct out_buf *o, struct sm_event *batch)
{
	size_t total = 0;
	uint64_t pending = 0;
	for (int r = 0; r < c->nrings; r++) {
		size_t n;
		while ((n = sm_event_ring_pop(c->rings[r], batch, BATCH)) > 0) {
			for (size_t k = 0; k < n; k++) {
				if (OUT_CAP - o->len < 1024) {
					flush(c, o, pending);
					pending = 0;
				}
				o->len += sm_event_to_json(&batch[k], o->data + o->len,
				                           OUT_CAP - o->len);
				pending++;
			}
			total += n;
		}
	}
	if (o->len)
		flush(c, o, pending);
	return total;
}

static void *collector_main(void *arg)
{
	struct sm_collector *c = arg;
	struct out_buf *out = malloc(sizeof(*out));
	struct sm_event *batch = malloc(BATCH * sizeof(*batch));
	if (!out || !batch) {
		free(out);
		free(batch);
		atomic_store(&c->write_errors, UINT64_MAX);
		return NULL;
	}
	out->len = 0;
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
		drain(c, out, batch);
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
	drain(c, out, batch);
	free(out);
	free(batch);
	return NULL;
}

int sm_collector_start(struct sm_collector *c, struct sm_event_ring **rings, int nrings, int out_fd,
                       int wake_fd)
{
	c->rings = rings;
	c->nrings = nrings;
	c->out_fd = out_fd;
	c->wake_fd = wake_fd;
	atomic_store(&c->stop, false);
	atomic_store(&c->lines, 0);
	atomic_store(&c->write_errors, 0);
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
