/* soth-bench: HTTP/1.1 load generator over io_uring (see docs/perf.md).
 *
 *   soth-bench [options] URL
 *
 * JSON result on stdout, progress on stderr. Exit 0 on a clean run, 3 when
 * any error was counted, 2 on a usage or set-up error. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "bench/bload.h"

#define MAX_THREADS 64
#define MAX_CPUS    64

struct opts {
	const char *url;
	const char *proxy;
	const char *cacert;
	int insecure;
	int tunnel;
	int new_conn;
	int hold;
	unsigned connections;
	double duration;
	uint64_t requests;
	double rate;
	unsigned threads;
	int cpus[MAX_CPUS];
	unsigned ncpus;
	double timeout;
	uint64_t max_errors;
	unsigned connect_window;
	int quiet;
};

struct url {
	int https;
	char host[256]; /* without brackets */
	int literal;    /* IP literal: no SNI */
	int v6;
	unsigned port;
	char path[1024];
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: soth-bench [options] URL\n"
	        "  URL                 http://host[:port]/path or https://...\n"
	        "  --proxy HOST:PORT   explicit proxy: CONNECT for https:// (and for http:// with\n"
	        "                      --tunnel), absolute-form requests for http:// otherwise\n"
	        "  --tunnel            use CONNECT for http:// URLs too\n"
	        "  --cacert FILE       CA bundle to verify the server (https://)\n"
	        "  --insecure          do not verify the server certificate\n"
	        "  --connections N     concurrent connections [16]\n"
	        "  --duration S        run length in seconds [10]\n"
	        "  --requests N        stop after N requests (whichever comes first)\n"
	        "  --rate R            fixed rate, requests/s over all connections; latency is\n"
	        "                      measured from each request's intended send time\n"
	        "  --new-conn          a new connection (and tunnel, handshake) per request\n"
	        "  --hold              establish the connections (tunnel, TLS), then stay idle\n"
	        "                      until the duration ends (memory per idle tunnel)\n"
	        "  --threads T         worker threads, one io_uring each [1]\n"
	        "  --cpu LIST          pin worker i to the i-th CPU of LIST (e.g. 0,1 or 0-3)\n"
	        "  --timeout S         per connect/handshake/response [10]\n"
	        "  --max-errors N      stop the run after N errors [1000]\n"
	        "  --connect-window N  connections being set up (connect, CONNECT, TLS) at\n"
	        "                      once, per thread [64]\n"
	        "  --quiet             no progress lines\n");
}

static int parse_cpus(const char *s, struct opts *o)
{
	o->ncpus = 0;
	while (*s) {
		char *end;
		long a = strtol(s, &end, 10);
		if (end == s || a < 0 || a >= CPU_SETSIZE)
			return -1;
		long b = a;
		s = end;
		if (*s == '-') {
			s++;
			b = strtol(s, &end, 10);
			if (end == s || b < a || b >= CPU_SETSIZE)
				return -1;
			s = end;
		}
		for (long i = a; i <= b; i++) {
			if (o->ncpus == MAX_CPUS)
				return -1;
			o->cpus[o->ncpus++] = (int)i;
		}
		if (*s == ',')
			s++;
		else if (*s)
			return -1;
	}
	return o->ncpus ? 0 : -1;
}

static int parse_url(const char *s, struct url *u)
{
	memset(u, 0, sizeof(*u));
	if (strncmp(s, "http://", 7) == 0) {
		s += 7;
		u->port = 80;
	} else if (strncmp(s, "https://", 8) == 0) {
		s += 8;
		u->https = 1;
		u->port = 443;
	} else {
		return -1;
	}
	const char *hs = s, *he;
	if (*s == '[') {
		hs = s + 1;
		he = strchr(hs, ']');
		if (!he)
			return -1;
		s = he + 1;
		u->literal = u->v6 = 1;
	} else {
		he = s + strcspn(s, ":/?#");
		s = he;
	}
	size_t hl = (size_t)(he - hs);
	if (hl == 0 || hl >= sizeof(u->host))
		return -1;
	memcpy(u->host, hs, hl);
	u->host[hl] = 0;
	if (*s == ':') {
		char *end;
		long p = strtol(s + 1, &end, 10);
		if (end == s + 1 || p < 1 || p > 65535)
			return -1;
		u->port = (unsigned)p;
		s = end;
	}
	if (*s && *s != '/')
		return -1;
	int n = snprintf(u->path, sizeof(u->path), "%s", *s ? s : "/");
	if (n < 0 || (size_t)n >= sizeof(u->path))
		return -1;
	if (!u->v6) {
		struct in_addr a4;
		u->literal = inet_pton(AF_INET, u->host, &a4) == 1;
	}
	return 0;
}

static int resolve(const char *host, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	char ps[8];
	snprintf(ps, sizeof(ps), "%u", port);
	int rc = getaddrinfo(host, ps, &hints, &res);
	if (rc != 0 || !res) {
		fprintf(stderr, "soth-bench: cannot resolve %s: %s\n", host, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.connections = 16,
	                   .duration = 10,
	                   .threads = 1,
	                   .timeout = 10,
	                   .max_errors = 1000,
	                   .connect_window = 64};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV()                                                                                    \
	do {                                                                                       \
		if (!v) {                                                                          \
			fprintf(stderr, "soth-bench: %s needs a value\n", a);                      \
			return -1;                                                                 \
		}                                                                                  \
		i++;                                                                               \
	} while (0)
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--proxy")) {
			NEEDV();
			o->proxy = v;
		} else if (!strcmp(a, "--cacert")) {
			NEEDV();
			o->cacert = v;
		} else if (!strcmp(a, "--insecure") || !strcmp(a, "-k")) {
			o->insecure = 1;
		} else if (!strcmp(a, "--tunnel")) {
			o->tunnel = 1;
		} else if (!strcmp(a, "--new-conn")) {
			o->new_conn = 1;
		} else if (!strcmp(a, "--hold")) {
			o->hold = 1;
		} else if (!strcmp(a, "--quiet")) {
			o->quiet = 1;
		} else if (!strcmp(a, "--connections") || !strcmp(a, "-c")) {
			NEEDV();
			o->connections = (unsigned)strtoul(v, NULL, 10);
		} else if (!strcmp(a, "--duration") || !strcmp(a, "-d")) {
			NEEDV();
			o->duration = strtod(v, NULL);
		} else if (!strcmp(a, "--requests") || !strcmp(a, "-n")) {
			NEEDV();
			o->requests = strtoull(v, NULL, 10);
		} else if (!strcmp(a, "--rate")) {
			NEEDV();
			o->rate = strtod(v, NULL);
		} else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
			NEEDV();
			o->threads = (unsigned)strtoul(v, NULL, 10);
		} else if (!strcmp(a, "--cpu")) {
			NEEDV();
			if (parse_cpus(v, o) < 0) {
				fprintf(stderr, "soth-bench: bad --cpu list '%s'\n", v);
				return -1;
			}
		} else if (!strcmp(a, "--timeout")) {
			NEEDV();
			o->timeout = strtod(v, NULL);
		} else if (!strcmp(a, "--connect-window")) {
			NEEDV();
			o->connect_window = (unsigned)strtoul(v, NULL, 10);
		} else if (!strcmp(a, "--max-errors")) {
			NEEDV();
			o->max_errors = strtoull(v, NULL, 10);
		} else if (a[0] == '-') {
			fprintf(stderr, "soth-bench: unknown option %s\n", a);
			return -1;
		} else if (o->url) {
			fprintf(stderr, "soth-bench: more than one URL\n");
			return -1;
		} else {
			o->url = a;
		}
#undef NEEDV
	}
	if (!o->url) {
		usage(stderr);
		return -1;
	}
	if (o->connections == 0 || o->connections > 1000000 || o->threads == 0 ||
	    o->threads > MAX_THREADS || o->duration <= 0 || o->duration > 86400 || o->rate < 0 ||
	    o->timeout < 0 || o->connect_window == 0) {
		fprintf(stderr, "soth-bench: out-of-range option value\n");
		return -1;
	}
	if (o->threads > o->connections)
		o->threads = o->connections;
	return 0;
}

static void raise_nofile(unsigned want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rlim_t need = (rlim_t)want + 64;
	if (rl.rlim_cur >= need)
		return;
	rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* Builds the request and CONNECT bytes; returns 0 or -1 if they overflow. */
static int build_requests(struct sm_bload_cfg *cfg, const struct url *u, const struct opts *o)
{
	char hostport[300];
	int dflt = u->port == (u->https ? 443u : 80u);
	const char *lb = u->v6 ? "[" : "", *rb = u->v6 ? "]" : "";
	int n = dflt ? snprintf(hostport, sizeof(hostport), "%s%s%s", lb, u->host, rb)
	             : snprintf(hostport, sizeof(hostport), "%s%s%s:%u", lb, u->host, rb, u->port);
	if (n < 0 || (size_t)n >= sizeof(hostport))
		return -1;
	char full[300];
	n = snprintf(full, sizeof(full), "%s%s%s:%u", lb, u->host, rb, u->port);
	if (n < 0 || (size_t)n >= sizeof(full))
		return -1;
	n = snprintf(cfg->connect_req, sizeof(cfg->connect_req),
	             "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: soth-bench/" SM_VERSION
	             "\r\n\r\n",
	             full, full);
	if (n < 0 || (size_t)n >= sizeof(cfg->connect_req))
		return -1;
	cfg->connect_len = (size_t)n;
	int absolute = o->proxy && !cfg->tunnel;
	n = snprintf(cfg->req, sizeof(cfg->req),
	             "GET %s%s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: soth-bench/" SM_VERSION
	             "\r\nAccept: */*\r\n%s\r\n",
	             absolute ? "http://" : "", absolute ? hostport : "", u->path, hostport,
	             o->new_conn ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(cfg->req))
		return -1;
	cfg->req_len = (size_t)n;
	return 0;
}

static void *make_tls_ctx(const struct opts *o)
{
	wolfSSL_Init();
	WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
	if (!ctx)
		return NULL;
	if (o->insecure) {
		wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
	} else if (o->cacert) {
		if (wolfSSL_CTX_load_verify_locations(ctx, o->cacert, NULL) != WOLFSSL_SUCCESS) {
			fprintf(stderr, "soth-bench: cannot load CA file %s\n", o->cacert);
			wolfSSL_CTX_free(ctx);
			return NULL;
		}
		wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);
	} else if (wolfSSL_CTX_load_system_CA_certs(ctx) != WOLFSSL_SUCCESS) {
		fprintf(stderr, "soth-bench: no --cacert and no system CA store; use --insecure\n");
		wolfSSL_CTX_free(ctx);
		return NULL;
	}
	sm_bload_tls_ctx_setup(ctx); /* memory I/O: ciphertext moves through the ring */
	return ctx;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	g_interrupted = 1;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	struct url u;
	if (parse_url(o.url, &u) < 0) {
		fprintf(stderr, "soth-bench: bad URL '%s'\n", o.url);
		return 2;
	}
	struct sm_bload_cfg *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return 2;
	cfg->tls = u.https;
	cfg->tunnel = o.proxy && (u.https || o.tunnel);
	cfg->new_conn = o.new_conn;
	cfg->hold = o.hold;
	cfg->rate = o.rate;
	cfg->total_connections = o.connections;
	cfg->timeout_ns = (uint64_t)(o.timeout * 1e9);
	cfg->max_requests = o.requests;
	cfg->max_errors = o.max_errors;
	cfg->connect_window = o.connect_window;
	cfg->sni = u.literal ? NULL : u.host;
	if (build_requests(cfg, &u, &o) < 0) {
		fprintf(stderr, "soth-bench: URL too long\n");
		return 2;
	}
	if (o.proxy) {
		char ph[256];
		const char *colon = strrchr(o.proxy, ':');
		size_t hl = colon ? (size_t)(colon - o.proxy) : 0;
		if (!colon || hl == 0 || hl >= sizeof(ph)) {
			fprintf(stderr, "soth-bench: --proxy wants HOST:PORT\n");
			return 2;
		}
		memcpy(ph, o.proxy, hl);
		ph[hl] = 0;
		char *h = ph;
		if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
			h[hl - 1] = 0;
			h++;
		}
		if (resolve(h, (unsigned)strtoul(colon + 1, NULL, 10), &cfg->addr, &cfg->addrlen) <
		    0)
			return 2;
	} else if (resolve(u.host, u.port, &cfg->addr, &cfg->addrlen) < 0) {
		return 2;
	}
	if (cfg->tls) {
		cfg->tls_ctx = make_tls_ctx(&o);
		if (!cfg->tls_ctx)
			return 2;
	}
	raise_nofile(o.connections * (o.proxy ? 1u : 1u) + 16);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = on_sigint};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	cfg->start_ns = sm_bload_now_ns();
	cfg->end_ns = cfg->start_ns + (uint64_t)(o.duration * 1e9);

	struct sm_bload_stats *stats = calloc(o.threads, sizeof(*stats));
	struct sm_bload_worker_args *args = calloc(o.threads, sizeof(*args));
	pthread_t tid[MAX_THREADS];
	uint8_t joined[MAX_THREADS] = {0};
	if (!stats || !args)
		return 2;
	unsigned first = 0;
	for (unsigned i = 0; i < o.threads; i++) {
		sm_bhist_init(&stats[i].lat);
		unsigned share = o.connections / o.threads + (i < o.connections % o.threads);
		args[i] = (struct sm_bload_worker_args){.cfg = cfg,
		                                        .stats = &stats[i],
		                                        .index = i,
		                                        .nworkers = o.threads,
		                                        .first_conn = first,
		                                        .connections = share,
		                                        .cpu = o.ncpus ? o.cpus[i % o.ncpus] : -1};
		first += share;
		if (pthread_create(&tid[i], NULL, sm_bload_worker, &args[i]) != 0) {
			fprintf(stderr, "soth-bench: pthread_create failed\n");
			return 2;
		}
	}
	struct rusage ru0;
	getrusage(RUSAGE_SELF, &ru0);

	/* progress once a second until every worker is done */
	uint64_t last_req = 0, last_t = cfg->start_ns;
	for (;;) {
		struct timespec nap = {0, 100 * 1000000};
		nanosleep(&nap, NULL);
		if (g_interrupted)
			atomic_store(&cfg->stop, 1);
		int done = 1;
		for (unsigned i = 0; i < o.threads; i++) {
			if (!joined[i] && pthread_tryjoin_np(tid[i], NULL) == 0)
				joined[i] = 1;
			done &= joined[i];
		}
		uint64_t now = sm_bload_now_ns();
		if (!o.quiet && (now - last_t >= 1000000000ull || done)) {
			uint64_t r = 0, e = 0, est = 0, b = 0;
			for (unsigned i = 0; i < o.threads; i++) {
				r += atomic_load(&stats[i].requests);
				e += atomic_load(&stats[i].errors);
				est += atomic_load(&stats[i].established);
				b += atomic_load(&stats[i].bytes);
			}
			double dt = (double)(now - last_t) / 1e9;
			fprintf(stderr,
			        "soth-bench: %5.1fs  requests %llu (%.0f/s)  bytes %llu  "
			        "established %llu  errors %llu\n",
			        (double)(now - cfg->start_ns) / 1e9, (unsigned long long)r,
			        dt > 0 ? (double)(r - last_req) / dt : 0.0, (unsigned long long)b,
			        (unsigned long long)est, (unsigned long long)e);
			last_req = r;
			last_t = now;
		}
		if (done)
			break;
	}
	uint64_t end = sm_bload_now_ns();
	struct rusage ru1;
	getrusage(RUSAGE_SELF, &ru1);

	/* merge */
	static struct sm_bload_stats tot;
	sm_bhist_init(&tot.lat);
	int setup_fail = 0;
	for (unsigned i = 0; i < o.threads; i++) {
		if (args[i].rc < 0) {
			fprintf(stderr, "soth-bench: worker %u failed to start: %s\n", i,
			        strerror(-args[i].rc));
			setup_fail = 1;
		}
		sm_bhist_merge(&tot.lat, &stats[i].lat);
		tot.requests += stats[i].requests;
		tot.bytes += stats[i].bytes;
		tot.established += stats[i].established;
		tot.connects += stats[i].connects;
		for (int k = 0; k < SM_BLOAD_E_COUNT; k++) {
			if (stats[i].err[k] && !tot.err[k])
				memcpy(tot.first_err[k], stats[i].first_err[k],
				       sizeof(tot.first_err[k]));
			tot.err[k] += stats[i].err[k];
		}
		for (int k = 0; k < 6; k++)
			tot.status_class[k] += stats[i].status_class[k];
	}
	uint64_t nerr = 0;
	for (int k = 0; k < SM_BLOAD_E_COUNT; k++)
		nerr += tot.err[k];
	/* the measured window ends at the deadline, or earlier when a bound stopped it */
	uint64_t stop_t = 0;
	for (unsigned i = 0; i < o.threads; i++)
		if (stats[i].end_ns > stop_t)
			stop_t = stats[i].end_ns;
	if (stop_t == 0 || stop_t > end)
		stop_t = end;
	if (stop_t > cfg->end_ns)
		stop_t = cfg->end_ns;
	double secs = (double)(stop_t - cfg->start_ns) / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	double cpu_user = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
	                  (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
	double cpu_sys = (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
	                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;

	printf("{\"url\":");
	json_str(o.url);
	printf(",\"proxy\":");
	if (o.proxy)
		json_str(o.proxy);
	else
		printf("null");
	printf(",\"mode\":\"%s\",\"tunnel\":%s,\"tls\":%s,\"connections\":%u,\"threads\":%u,"
	       "\"rate\":%.3f,\"duration_s\":%.3f,",
	       o.hold ? "hold" : (o.new_conn ? "new-conn" : "keep-alive"),
	       cfg->tunnel ? "true" : "false", cfg->tls ? "true" : "false", o.connections,
	       o.threads, o.rate, secs);
	printf("\"cpus\":[");
	for (unsigned i = 0; i < o.threads; i++)
		printf("%s%d", i ? "," : "", args[i].cpu);
	printf("],\"requests\":%llu,\"requests_per_s\":%.1f,\"bytes\":%llu,\"bytes_per_s\":%.1f,",
	       (unsigned long long)tot.requests, (double)tot.requests / secs,
	       (unsigned long long)tot.bytes, (double)tot.bytes / secs);
	printf("\"connects\":%llu,\"established\":%llu,", (unsigned long long)tot.connects,
	       (unsigned long long)tot.established);
	printf("\"latency_us\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu,\"max\":%llu,"
	       "\"mean\":%.1f},",
	       (unsigned long long)sm_bhist_quantile(&tot.lat, 0.50),
	       (unsigned long long)sm_bhist_quantile(&tot.lat, 0.90),
	       (unsigned long long)sm_bhist_quantile(&tot.lat, 0.99),
	       (unsigned long long)sm_bhist_quantile(&tot.lat, 0.999),
	       (unsigned long long)tot.lat.max,
	       tot.lat.count ? (double)tot.lat.sum / (double)tot.lat.count : 0.0);
	printf("\"status\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu},",
	       (unsigned long long)tot.status_class[1], (unsigned long long)tot.status_class[2],
	       (unsigned long long)tot.status_class[3], (unsigned long long)tot.status_class[4],
	       (unsigned long long)tot.status_class[5]);
	printf("\"non2xx\":%llu,", (unsigned long long)tot.err[SM_BLOAD_E_STATUS]);
	printf("\"errors\":{\"total\":%llu", (unsigned long long)nerr);
	for (int k = 0; k < SM_BLOAD_E_COUNT; k++)
		printf(",\"%s\":%llu", sm_bload_err_str((enum sm_bload_err)k),
		       (unsigned long long)tot.err[k]);
	printf("},\"cpu_s\":{\"user\":%.3f,\"sys\":%.3f}}\n", cpu_user, cpu_sys);
	fflush(stdout);

	if (cfg->tls_ctx) {
		wolfSSL_CTX_free((WOLFSSL_CTX *)cfg->tls_ctx);
		wolfSSL_Cleanup();
	}
	free(stats);
	free(args);
	free(cfg);
	if (setup_fail)
		return 2;
	if (nerr > 0) {
		fprintf(stderr,
		        "\n"
		        "soth-bench: !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
		        "soth-bench: !!! THIS RUN HAD %llu ERRORS: its figures are not valid !!!\n",
		        (unsigned long long)nerr);
		for (int k = 0; k < SM_BLOAD_E_COUNT; k++)
			if (tot.err[k])
				fprintf(stderr, "soth-bench: !!!   %-14s %8llu   first: %s\n",
				        sm_bload_err_str((enum sm_bload_err)k),
				        (unsigned long long)tot.err[k], tot.first_err[k]);
		fprintf(stderr, "soth-bench: "
		                "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
		return 3;
	}
	return 0;
}
