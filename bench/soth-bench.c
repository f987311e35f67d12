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
#include "bench/bopts.h"

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
static int build_requests(struct sm_bload_cfg *cfg, const struct sm_bopts_url *u,
                          const struct sm_bopts *o)
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
	snprintf(cfg->authority, sizeof(cfg->authority), "%s", hostport);
	snprintf(cfg->path, sizeof(cfg->path), "%s", u->path);
	cfg->h2req = (struct sm_bh2_req){.scheme = "https",
	                                 .authority = cfg->authority,
	                                 .path = cfg->path,
	                                 .user_agent = "soth-bench/" SM_VERSION};
	return 0;
}

static void *make_tls_ctx(const struct sm_bopts *o)
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
	struct sm_bopts o;
	char err[256];
	int prc = sm_bopts_parse(argc, argv, &o, err, sizeof(err));
	if (prc == 1) {
		sm_bopts_usage(stdout);
		return 0;
	}
	if (prc < 0) {
		fprintf(stderr, "soth-bench: %s\n", err);
		if (!o.url)
			sm_bopts_usage(stderr);
		return 2;
	}
	struct sm_bopts_url u;
	if (sm_bopts_parse_url(o.url, &u) < 0) {
		fprintf(stderr, "soth-bench: bad URL '%s'\n", o.url);
		return 2;
	}
	struct sm_bload_cfg *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return 2;
	cfg->tls = u.https;
	cfg->tunnel = o.proxy && (u.https || o.tunnel);
	cfg->new_conn = o.new_conn;
	cfg->http2 = o.http2;
	cfg->streams = o.streams;
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
	pthread_t tid[SM_BOPTS_MAX_THREADS];
	uint8_t joined[SM_BOPTS_MAX_THREADS] = {0};
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
		tot.h2_refused += stats[i].h2_refused;
		tot.h2_goaway += stats[i].h2_goaway;
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
	printf(",\"mode\":\"%s\",\"tunnel\":%s,\"tls\":%s,\"http2\":%s,\"streams\":%u,"
	       "\"connections\":%u,\"threads\":%u,\"rate\":%.3f,\"duration_s\":%.3f,",
	       o.hold ? "hold" : (o.new_conn ? "new-conn" : "keep-alive"),
	       cfg->tunnel ? "true" : "false", cfg->tls ? "true" : "false",
	       o.http2 ? "true" : "false", o.streams, o.connections, o.threads, o.rate, secs);
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
	printf("\"h2\":{\"refused_streams\":%llu,\"graceful_goaway\":%llu},",
	       (unsigned long long)tot.h2_refused, (unsigned long long)tot.h2_goaway);
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
