/* Instance lifecycle: listeners, reactors, collector. */
#include "core/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>

#include "core/dns.h"
#include "core/proxy_internal.h"
#include "core/loop.h"
#include "core/reactor.h"
#include "base/result.h"
#include "telemetry/admin.h"
#include "telemetry/collector.h"
#include "telemetry/metrics.h"
#include "telemetry/prom.h"

struct sm_proxy {
	const struct sm_config *cfg;
	int n_reactors;
	struct sm_reactor *reactors;
	struct sm_event_ring **rings;
	struct sm_collector collector;
	struct sm_metrics_layouts layouts; /* immutable histogram export bounds */
	struct sm_metrics *metrics;        /* one block per reactor, 64-byte aligned */
	struct sm_admin admin;             /* listen_fd < 0 unless cfg->admin */
	struct sm_hist *scratch;           /* the collector merges histograms here */
	_Atomic bool stopping;             /* sm_proxy_stop() called: not ready any more */
	_Atomic bool unready;              /* sm_proxy_unready(): /readyz 503 before the stop */
	int collector_wake_fd;
	int events_fd;
	int keylog_fd; /* tls.keylog, opened here at start-up, -1 = off */
	struct sm_hosts hosts;
	struct sm_proxy_rt rt;
	struct sm_ca ca;
	bool ca_open;
	uint8_t *trust;
	size_t trust_len;
	struct sockaddr_storage bound[SM_MAX_LISTEN];
	socklen_t bound_len[SM_MAX_LISTEN];
	size_t n_listen;
	bool started;
	/* reloads (core/snap.h): the current snapshot (NULL: the start-up
	 * configuration, cfg above), and replaced ones some reactor had not
	 * acknowledged moving past in time: freed once they all have */
	struct sm_snap *_Atomic snap;
	struct sm_snap *retired[SM_PROXY_RETIRED_MAX];
	size_t n_retired;
	uint64_t epoch;
	_Atomic uint64_t reloads_ok, reloads_failed;
};

const struct sm_proxy_rt *sm_proxy_rt(const struct sm_proxy *p)
{
	return &p->rt;
}

static int listen_one(const struct sockaddr_storage *addr, socklen_t len, char *err, size_t errcap)
{
	int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errcap, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (addr->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)addr, len) != 0 || listen(fd, 4096) != 0) {
		char ip[INET6_ADDRSTRLEN] = "?";
		uint16_t port;
		if (addr->ss_family == AF_INET) {
			inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, ip,
			          sizeof(ip));
			port = ntohs(((const struct sockaddr_in *)addr)->sin_port);
		} else {
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, ip,
			          sizeof(ip));
			port = ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
		}
		snprintf(err, errcap, "cannot listen on %s%s%s:%u: %s",
		         addr->ss_family == AF_INET6 ? "[" : "", ip,
		         addr->ss_family == AF_INET6 ? "]" : "", port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- admin endpoint: served by the collector thread ---- */

/* Ready: every reactor accepts and no drain has started (a load balancer
 * stops sending new connections while in-flight flows finish). */
static bool admin_ready(void *ctx)
{
	struct sm_proxy *p = ctx;
	return sm_proxy_ready(p) && !atomic_load(&p->stopping) && !atomic_load(&p->unready);
}

static uint64_t epoch_of(struct sm_proxy *p)
{
	struct sm_snap *s = atomic_load(&p->snap);
	return s ? s->epoch : 0;
}

static int admin_render(void *ctx, struct sm_prom *w)
{
	struct sm_proxy *p = ctx;
	enum { MAXR = 1024 };
	const struct sm_metrics *blocks[MAXR];
	uint64_t drops[MAXR];
	int n = p->n_reactors < MAXR ? p->n_reactors : MAXR;
	for (int i = 0; i < n; i++) {
		blocks[i] = &p->metrics[i];
		drops[i] = atomic_load_explicit(&p->reactors[i].events.drops, memory_order_relaxed);
	}
	struct sm_prom_globals g = {
	        .events_written = atomic_load(&p->collector.lines),
	        .events_write_lost = atomic_load(&p->collector.write_errors),
	        .admin_requests = p->admin.requests,
	        .admin_rejected = p->admin.rejected,
	        .scrape_overflows = p->admin.overflows,
	        .ready = admin_ready(p),
	        .config_epoch = epoch_of(p),
	        .reloads_ok = atomic_load(&p->reloads_ok),
	        .reloads_failed = atomic_load(&p->reloads_failed),
	        .log_reopens = atomic_load(&p->collector.reopens),
	        .log_reopen_errors = atomic_load(&p->collector.reopen_errors),
	};
	return sm_prom_render(w, blocks, drops, n, &g, p->scratch);
}

static int admin_open(struct sm_proxy *p, char *err, size_t errcap)
{
	struct sockaddr_storage addr;
	socklen_t len;
	if (sm_admin_parse_addr(p->cfg->admin, &addr, &len) != SM_OK) {
		snprintf(
		        err, errcap,
		        "admin: expected ADDR:PORT (IPv4 or [IPv6], port 0..65535), got \"%.100s\"",
		        p->cfg->admin);
		return SM_ERR_INVALID;
	}
	p->scratch = malloc(sizeof(*p->scratch));
	if (!p->scratch) {
		snprintf(err, errcap, "out of memory");
		return SM_ERR_NOMEM;
	}
	/* ~10 KiB + ~5 KiB of per-core series per reactor: generous, never grown */
	size_t cap = 256 * 1024 + (size_t)p->n_reactors * 16 * 1024;
	int rc = sm_admin_open(&p->admin, &addr, len, cap, admin_render, admin_ready, p, err,
	                       errcap);
	if (rc == SM_OK)
		p->collector.admin = &p->admin;
	return rc;
}

int sm_proxy_admin_addr(const struct sm_proxy *p, struct sockaddr_storage *out, socklen_t *len)
{
	if (p->admin.listen_fd < 0)
		return SM_ERR_INVALID;
	*out = p->admin.addr;
	*len = p->admin.addr_len;
	return SM_OK;
}

static bool wants_intercept(const struct sm_config *cfg)
{
	if (cfg->default_action == SM_ACTION_INTERCEPT)
		return true;
	for (size_t i = 0; i < cfg->n_rules; i++)
		if (cfg->rules[i].action == SM_ACTION_INTERCEPT)
			return true;
	return false;
}

#define TRUST_MAX (8u << 20) /* trusted-roots bundles, all files together */

/* Appends a PEM file to the trust buffer (start-up, main thread). */
static int add_trust(struct sm_proxy *p, const char *path, bool required, char *err, size_t errcap)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		if (!required)
			return SM_OK;
		snprintf(err, errcap, "cannot read trusted CA file %s: %s", path, strerror(errno));
		return SM_ERR_INVALID;
	}
	if (!p->trust && !(p->trust = malloc(TRUST_MAX))) {
		fclose(fp);
		return SM_ERR_NOMEM;
	}
	size_t n = fread(p->trust + p->trust_len, 1, TRUST_MAX - p->trust_len, fp);
	bool more = fgetc(fp) != EOF;
	fclose(fp);
	if (more) {
		snprintf(err, errcap, "trusted CA files exceed %u bytes (at %s)", TRUST_MAX, path);
		return SM_ERR_LIMIT;
	}
	p->trust_len += n;
	if (p->trust_len < TRUST_MAX)
		p->trust[p->trust_len++] = '\n';
	return SM_OK;
}

/* One PEM file of trusted roots must hold certificates and nothing wolfSSL
 * refuses: a mistaken file (empty, a key, random bytes) would otherwise
 * leave upstream verification failing with unknown_ca long after start-up. */
static int check_trust_pem(const char *path, const char *buf, size_t len, char *err, size_t errcap)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	static const char end[] = "-----END CERTIFICATE-----";
	size_t sp = 0;
	while (sp < len && (buf[sp] == ' ' || (buf[sp] >= '\t' && buf[sp] <= '\r')))
		sp++;
	if (sp == len) {
		snprintf(err, errcap, "trusted CA file %s: is empty", path);
		return SM_ERR_INVALID;
	}
	/* a context, not a bare CertManager: only it takes the load flags */
	WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
	uint8_t *der = malloc(len);
	if (!ctx || !der) {
		if (ctx)
			wolfSSL_CTX_free(ctx);
		free(der);
		snprintf(err, errcap, "out of memory");
		return SM_ERR_NOMEM;
	}
	int rc = SM_OK, n = 0;
	const char *at = buf, *stop = buf + len, *b;
	while (rc == SM_OK && (b = memmem(at, (size_t)(stop - at), begin, sizeof(begin) - 1))) {
		const char *e = memmem(b, (size_t)(stop - b), end, sizeof(end) - 1);
		n++;
		if (!e) {
			snprintf(err, errcap, "trusted CA file %s: certificate %d has no END line",
			         path, n);
			rc = SM_ERR_INVALID;
			break;
		}
		e += sizeof(end) - 1;
		int dl = wc_CertPemToDer((const unsigned char *)b, (int)(e - b), der, (int)len,
		                         CERT_TYPE);
		/* an expired root in a bundle is harmless: it never verifies anything */
		int v = dl > 0 ? wolfSSL_CTX_load_verify_buffer_ex(ctx, der, dl,
		                                                   WOLFSSL_FILETYPE_ASN1, 0,
		                                                   WOLFSSL_LOAD_FLAG_DATE_ERR_OKAY)
		               : dl;
		if (v != WOLFSSL_SUCCESS) {
			snprintf(err, errcap, "trusted CA file %s: certificate %d is not valid: %s",
			         path, n, wolfSSL_ERR_reason_error_string((unsigned long)v));
			rc = SM_ERR_INVALID;
		}
		at = e;
	}
	if (rc == SM_OK && n == 0) {
		bool key = memmem(buf, len, "PRIVATE KEY-----", 16) != NULL;
		snprintf(err, errcap, "trusted CA file %s: %s", path,
		         key ? "holds a private key, not a certificate"
		             : "has no PEM certificate (no \"-----BEGIN CERTIFICATE-----\" line)");
		rc = SM_ERR_INVALID;
	}
	wolfSSL_CTX_free(ctx);
	free(der);
	return rc;
}

/* Every tls.upstream_ca file, checked at start-up whatever the policy, so
 * a wrong file is an error now, not a surprise when a rule intercepts. */
static int check_upstream_ca(const struct sm_config *cfg, char *err, size_t errcap)
{
	const char *list = cfg->tls.upstream_ca;
	if (!list || !*list)
		return SM_OK;
	if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
		snprintf(err, errcap, "wolfSSL_Init failed");
		return SM_ERR_IO;
	}
	char *buf = malloc(TRUST_MAX);
	int rc = buf ? SM_OK : SM_ERR_NOMEM;
	if (!buf)
		snprintf(err, errcap, "out of memory");
	while (rc == SM_OK && list && *list) {
		const char *next = strchr(list, ',');
		size_t n = next ? (size_t)(next - list) : strlen(list);
		char path[4096];
		if (n >= sizeof(path)) {
			snprintf(err, errcap, "tls.upstream_ca: path too long");
			rc = SM_ERR_INVALID;
			break;
		}
		memcpy(path, list, n);
		path[n] = 0;
		list = next ? next + 1 : NULL;
		if (!n)
			continue;
		FILE *fp = fopen(path, "rb");
		if (!fp) {
			snprintf(err, errcap, "cannot read trusted CA file %s: %s", path,
			         strerror(errno));
			rc = SM_ERR_INVALID;
			break;
		}
		size_t len = fread(buf, 1, TRUST_MAX, fp);
		bool more = fgetc(fp) != EOF;
		fclose(fp);
		if (more) {
			snprintf(err, errcap, "trusted CA file %s: larger than %u bytes", path,
			         TRUST_MAX);
			rc = SM_ERR_LIMIT;
		} else {
			rc = check_trust_pem(path, buf, len, err, errcap);
		}
	}
	free(buf);
	wolfSSL_Cleanup();
	return rc;
}

/* The local CA (created on first run) and the roots upstreams are verified
 * against: everything interception needs from disk, read before any
 * reactor starts. */
static int open_tls(struct sm_proxy *p, const struct sm_config *cfg, char *err, size_t errcap)
{
	if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
		snprintf(err, errcap, "wolfSSL_Init failed");
		return SM_ERR_IO;
	}
	char dir[SM_CA_PATH_MAX];
	const char *d = cfg->tls.ca_dir;
	if (!d) {
		if (sm_ca_default_dir(dir, sizeof(dir)) != SM_OK) {
			wolfSSL_Cleanup();
			snprintf(err, errcap, "no CA directory: set tls.ca_dir or HOME");
			return SM_ERR_INVALID;
		}
		d = dir;
	}
	if (sm_ca_open(&p->ca, d, (int64_t)time(NULL), err, errcap) != SM_OK) {
		wolfSSL_Cleanup();
		return SM_ERR_INVALID;
	}
	p->ca_open = true;
	p->rt.ca = &p->ca;
	int rc = SM_OK;
	if (cfg->tls.system_ca && *cfg->tls.system_ca)
		rc = add_trust(p, cfg->tls.system_ca, false, err, errcap);
	const char *list = cfg->tls.upstream_ca;
	while (rc == SM_OK && list && *list) {
		const char *end = strchr(list, ',');
		size_t n = end ? (size_t)(end - list) : strlen(list);
		char path[4096];
		if (n >= sizeof(path)) {
			snprintf(err, errcap, "tls.upstream_ca: path too long");
			return SM_ERR_INVALID;
		}
		memcpy(path, list, n);
		path[n] = 0;
		if (n)
			rc = add_trust(p, path, true, err, errcap);
		list = end ? end + 1 : NULL;
	}
	p->rt.trust_pem = p->trust;
	p->rt.trust_len = p->trust_len;
	return rc;
}

int sm_proxy_cpus(void)
{
	cpu_set_t set;
	long n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
	                                                      : sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (n > SM_CONFIG_MAX_THREADS ? SM_CONFIG_MAX_THREADS : (int)n);
}

int sm_proxy_create(const struct sm_config *cfg, int events_fd, struct sm_proxy **out, char *err,
                    size_t errcap)
{
	return sm_proxy_create_ex(cfg, events_fd, NULL, out, err, errcap);
}

int sm_proxy_create_ex(const struct sm_config *cfg, int events_fd, const struct sm_proxy_hooks *h,
                       struct sm_proxy **out, char *err, size_t errcap)
{
	static const struct sm_proxy_hooks none;
	h = h ? h : &none;
	*out = NULL;
	struct sm_proxy *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errcap, "out of memory");
		return SM_ERR_NOMEM;
	}
	p->cfg = cfg;
	p->events_fd = events_fd;
	p->collector_wake_fd = -1;
	p->keylog_fd = -1;
	if (sm_dns_check_servers(cfg->dns_servers, err, errcap) != SM_OK) {
		free(p);
		return SM_ERR_INVALID;
	}
	int cpus = sm_proxy_cpus();
	size_t each = sm_reactor_mem_estimate(cfg, wants_intercept(cfg));
	if ((int)cfg->threads > cpus && !cfg->allow_oversubscribe) {
		/* more reactors than CPUs only add memory and context switches */
		snprintf(err, errcap,
		         "threads: %u reactors but this process may use %d CPU%s; each reactor "
		         "takes "
		         "about %zu MiB and more than one per CPU only adds context switches: use "
		         "--threads %d or fewer, or add --allow-oversubscribe "
		         "(allow_oversubscribe: true) to run %u anyway",
		         cfg->threads, cpus, cpus == 1 ? "" : "s", (each + (1u << 19)) >> 20, cpus,
		         cfg->threads);
		free(p);
		return SM_ERR_INVALID;
	}
	p->n_reactors = cfg->threads ? (int)cfg->threads : cpus;
	p->collector_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->reactors = calloc((size_t)p->n_reactors, sizeof(*p->reactors));
	p->rings = calloc((size_t)p->n_reactors, sizeof(*p->rings));
	p->admin.listen_fd = -1;
	sm_metrics_layouts_init(&p->layouts);
	size_t mlen = (size_t)p->n_reactors * sizeof(*p->metrics);
	p->metrics = aligned_alloc(_Alignof(struct sm_metrics), mlen);
	if (p->metrics)
		for (int i = 0; i < p->n_reactors; i++)
			sm_metrics_init(&p->metrics[i], &p->layouts);
	for (int i = 0; p->reactors && i < p->n_reactors; i++) {
		/* no fd yet: sm_reactor_free of a reactor not built closes nothing */
		for (int k = 0; k < SM_MAX_LISTEN; k++)
			p->reactors[i].listen_fds[k] = -1;
		p->reactors[i].wake_fd = -1;
	}
	if (p->collector_wake_fd < 0 || !p->reactors || !p->rings || !p->metrics ||
	    sm_hosts_load(&p->hosts, "/etc/hosts") != SM_OK) {
		snprintf(err, errcap, "out of memory");
		sm_proxy_destroy(p);
		return SM_ERR_NOMEM;
	}
	p->rt.hosts = &p->hosts;
	if (cfg->tls.non_tls == SM_ACTION_INTERCEPT || cfg->tls.non_tls == SM_ACTION_FAULT) {
		snprintf(err, errcap, "tls.non_tls: expected tunnel or block");
		sm_proxy_destroy(p);
		return SM_ERR_INVALID;
	}
	int trc = check_upstream_ca(cfg, err, errcap);
	if (trc != SM_OK) {
		sm_proxy_destroy(p);
		return trc == SM_ERR_LIMIT ? SM_ERR_INVALID : trc;
	}
	if (wants_intercept(cfg)) {
		int rc = open_tls(p, cfg, err, errcap);
		if (rc != SM_OK) {
			sm_proxy_destroy(p);
			return rc;
		}
	}
	if (cfg->tls.keylog && *cfg->tls.keylog) {
		/* secrets: owner-only, appended like every SSLKEYLOGFILE writer */
		p->keylog_fd =
		        open(cfg->tls.keylog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (p->keylog_fd < 0) {
			snprintf(err, errcap, "tls.keylog: cannot open %s: %s", cfg->tls.keylog,
			         strerror(errno));
			sm_proxy_destroy(p);
			return SM_ERR_IO;
		}
	}
	if (cfg->n_listen > SM_MAX_LISTEN) {
		snprintf(err, errcap, "at most %d listen addresses", SM_MAX_LISTEN);
		sm_proxy_destroy(p);
		return SM_ERR_LIMIT;
	}
	if (h->building)
		h->building(h->arg, p->n_reactors, each);
	for (int i = 0; i < p->n_reactors; i++) {
		struct sm_reactor *r = &p->reactors[i];
		if (h->interrupted && h->interrupted(h->arg)) {
			snprintf(err, errcap, "stopped after building %d of %d reactors", i,
			         p->n_reactors);
			sm_proxy_destroy(p);
			return SM_ERR_STATE;
		}
		r->m = &p->metrics[i];
		r->snap_src = &p->snap;
		int rc = sm_reactor_init(r, &p->rt, cfg, i, p->n_reactors, &sm_ring_uring,
		                         p->collector_wake_fd, err, errcap);
		r->events_on = events_fd >= 0;
		r->keylog_on = p->keylog_fd >= 0;
		if (rc != SM_OK) {
			sm_proxy_destroy(p);
			return rc;
		}
		p->rings[i] = &r->events;
	}
	/* One SO_REUSEPORT socket per reactor and address; with port 0 the
	 * first bind picks the port and the others join it. */
	p->n_listen = cfg->n_listen;
	for (size_t l = 0; l < cfg->n_listen; l++) {
		struct sockaddr_storage addr = cfg->listen[l].addr;
		socklen_t len = cfg->listen[l].addrlen;
		for (int i = 0; i < p->n_reactors; i++) {
			int fd = listen_one(&addr, len, err, errcap);
			if (fd < 0) {
				sm_proxy_destroy(p);
				return SM_ERR_IO;
			}
			p->reactors[i].listen_fds[l] = fd;
			p->reactors[i].n_listen = (int)l + 1;
			if (i == 0) {
				p->bound_len[l] = sizeof(p->bound[l]);
				getsockname(fd, (struct sockaddr *)&p->bound[l], &p->bound_len[l]);
				addr = p->bound[l];
				len = p->bound_len[l];
			}
		}
	}
	if (cfg->admin) {
		int rc = admin_open(p, err, errcap);
		if (rc != SM_OK) {
			sm_proxy_destroy(p);
			return rc;
		}
	}
	*out = p;
	return SM_OK;
}

int sm_proxy_start(struct sm_proxy *p, char *err, size_t errcap)
{
	const struct sm_config *cfg = p->cfg;
	p->collector.out_path = cfg->events && strcmp(cfg->events, "-") != 0 ? cfg->events : NULL;
	p->collector.keylog_path = p->keylog_fd >= 0 ? cfg->tls.keylog : NULL;
	if (sm_collector_start(&p->collector, p->rings, p->n_reactors, p->events_fd, p->keylog_fd,
	                       p->collector_wake_fd) != SM_OK) {
		snprintf(err, errcap, "cannot start the collector thread");
		return SM_ERR_IO;
	}
	for (int i = 0; i < p->n_reactors; i++) {
		struct sm_reactor *r = &p->reactors[i];
		if (pthread_create(&r->thread, NULL, sm_loop_main, r) != 0) {
			snprintf(err, errcap, "cannot start reactor thread %d", i);
			sm_proxy_stop(p);
			sm_proxy_wait(p);
			return SM_ERR_IO;
		}
		r->thread_started = true;
	}
	p->started = true;
	return SM_OK;
}

void sm_proxy_stop(struct sm_proxy *p)
{
	atomic_store(&p->stopping, true);
	for (int i = 0; i < p->n_reactors; i++) {
		struct sm_reactor *r = &p->reactors[i];
		atomic_store(&r->stop_requested, true);
		uint64_t one = 1;
		ssize_t n = write(r->wake_fd, &one, sizeof(one));
		(void)n;
	}
}

void sm_proxy_reopen_logs(struct sm_proxy *p)
{
	sm_collector_reopen(&p->collector);
}

void sm_proxy_unready(struct sm_proxy *p)
{
	atomic_store(&p->unready, true);
}

void sm_proxy_stop_now(struct sm_proxy *p)
{
	for (int i = 0; i < p->n_reactors; i++) {
		struct sm_reactor *r = &p->reactors[i];
		atomic_store(&r->stop_now, true);
		uint64_t one = 1;
		ssize_t n = write(r->wake_fd, &one, sizeof(one));
		(void)n;
	}
}

bool sm_proxy_stopped(const struct sm_proxy *p)
{
	for (int i = 0; i < p->n_reactors; i++)
		if (p->reactors[i].thread_started && !atomic_load(&p->reactors[i].exited))
			return false;
	return true;
}

void sm_proxy_wait(struct sm_proxy *p)
{
	for (int i = 0; i < p->n_reactors; i++) {
		struct sm_reactor *r = &p->reactors[i];
		if (r->thread_started)
			pthread_join(r->thread, NULL);
		r->thread_started = false;
	}
	sm_collector_stop(&p->collector);
}

/* ---- reload ------------------------------------------------------------------ */

#define RELOAD_ACK_MS 5000

static void wake_all(struct sm_proxy *p)
{
	for (int i = 0; i < p->n_reactors; i++) {
		uint64_t one = 1;
		ssize_t n = write(p->reactors[i].wake_fd, &one, sizeof(one));
		(void)n;
	}
}

/* Every running reactor has loaded snapshot epoch e (or a later one), so
 * none can still take a reference to an older one. */
static bool all_acked(struct sm_proxy *p, uint64_t e)
{
	for (int i = 0; i < p->n_reactors; i++) {
		struct sm_reactor *r = &p->reactors[i];
		if (r->thread_started && !atomic_load(&r->failed) &&
		    atomic_load_explicit(&r->snap_epoch, memory_order_acquire) < e)
			return false;
	}
	return true;
}

int sm_proxy_reload(struct sm_proxy *p, struct sm_config *cfg, char *err, size_t errcap)
{
	char keys[512];
	if (sm_config_restart_diff(sm_proxy_config(p), cfg, keys, sizeof(keys))) {
		atomic_fetch_add(&p->reloads_failed, 1);
		snprintf(err, errcap, "%s: only a restart can change %s; nothing was reloaded",
		         cfg->source, keys);
		return SM_ERR_INVALID;
	}
	if (p->n_retired == SM_PROXY_RETIRED_MAX) {
		atomic_fetch_add(&p->reloads_failed, 1);
		snprintf(
		        err, errcap,
		        "the reactors have not taken the last %d reloads yet; nothing was reloaded",
		        SM_PROXY_RETIRED_MAX);
		return SM_ERR_STATE;
	}
	struct sm_snap *s = sm_snap_new(cfg, p->epoch + 1);
	if (!s) {
		atomic_fetch_add(&p->reloads_failed, 1);
		snprintf(err, errcap, "out of memory");
		return SM_ERR_NOMEM;
	}
	p->epoch = s->epoch;
	struct sm_snap *old = atomic_exchange_explicit(&p->snap, s, memory_order_acq_rel);
	if (old)
		p->retired[p->n_retired++] = old;
	wake_all(p);
	/* the main thread waits (never a reactor): until every reactor moved
	 * past the replaced snapshots, they may still load them */
	struct timespec ms = {0, 1000000};
	for (int t = 0; t < RELOAD_ACK_MS && !all_acked(p, s->epoch); t++)
		nanosleep(&ms, NULL);
	if (all_acked(p, s->epoch)) {
		for (size_t k = 0; k < p->n_retired; k++)
			sm_snap_put(p->retired[k]);
		p->n_retired = 0;
	}
	atomic_fetch_add(&p->reloads_ok, 1);
	return SM_OK;
}

void sm_proxy_reload_failed(struct sm_proxy *p)
{
	atomic_fetch_add(&p->reloads_failed, 1);
}

const struct sm_config *sm_proxy_config(const struct sm_proxy *p)
{
	struct sm_snap *s = atomic_load(&((struct sm_proxy *)p)->snap);
	return s ? s->cfg : p->cfg;
}

uint64_t sm_proxy_config_epoch(const struct sm_proxy *p)
{
	return p->epoch;
}

void sm_proxy_destroy(struct sm_proxy *p)
{
	if (!p)
		return;
	for (int i = 0; p->reactors && i < p->n_reactors; i++)
		sm_reactor_free(&p->reactors[i]);
	for (size_t k = 0; k < p->n_retired; k++) /* the reactors are gone */
		sm_snap_put(p->retired[k]);
	struct sm_snap *cur = atomic_load(&p->snap);
	if (cur)
		sm_snap_put(cur);
	free(p->reactors);
	free(p->rings);
	sm_hosts_free(&p->hosts);
	if (p->admin.listen_fd >= 0)
		sm_admin_close(&p->admin);
	free(p->scratch);
	free(p->metrics);
	if (p->ca_open) {
		sm_ca_close(&p->ca);
		wolfSSL_Cleanup();
	}
	free(p->trust);
	if (p->collector_wake_fd >= 0)
		close(p->collector_wake_fd);
	if (p->keylog_fd >= 0)
		close(p->keylog_fd);
	free(p);
}

int sm_proxy_listen_addr(const struct sm_proxy *p, size_t i, struct sockaddr_storage *out,
                         socklen_t *len)
{
	if (i >= p->n_listen)
		return SM_ERR_INVALID;
	*out = p->bound[i];
	*len = p->bound_len[i];
	return SM_OK;
}

size_t sm_proxy_n_listen(const struct sm_proxy *p)
{
	return p->n_listen;
}

int sm_proxy_n_reactors(const struct sm_proxy *p)
{
	return p->n_reactors;
}

bool sm_proxy_failed(const struct sm_proxy *p)
{
	for (int i = 0; i < p->n_reactors; i++)
		if (atomic_load(&p->reactors[i].failed))
			return true;
	return false;
}

bool sm_proxy_ready(const struct sm_proxy *p)
{
	for (int i = 0; i < p->n_reactors; i++)
		if (!atomic_load(&p->reactors[i].ready))
			return false;
	return true;
}

void sm_proxy_stats(const struct sm_proxy *p, struct sm_proxy_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < p->n_reactors; i++) {
		const struct sm_metrics *m = &p->metrics[i];
#define SUM(f) s->f += sm_metrics_get(&m->f)
		SUM(accepted);
		SUM(open_flows);
		SUM(denied_clients);
		SUM(decision_tunnel);
		SUM(decision_block);
		SUM(upstream_connected);
		SUM(upstream_failed);
		SUM(enobufs);
		SUM(stale_cqes);
		SUM(flows_closed);
#undef SUM
		for (int l = 0; l < SM_LANE_COUNT; l++) {
			s->bytes_up += sm_metrics_get(&m->bytes[l][SM_BYTES_UP]);
			s->bytes_down += sm_metrics_get(&m->bytes[l][SM_BYTES_DOWN]);
		}
		s->events_dropped +=
		        atomic_load_explicit(&p->reactors[i].events.drops, memory_order_relaxed);
	}
}
