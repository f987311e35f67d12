/* soth-bench command line; see bopts.h. */
#include "bench/bopts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

void sm_bopts_usage(FILE *f)
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
	        "  --http2             HTTP/2: ALPN h2 over TLS (https:// only), GET requests as\n"
	        "                      streams, --streams per connection (not with --rate, "
	        "--hold)\n"
	        "  --streams N         concurrent HTTP/2 streams per connection [10]\n"
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

int sm_bopts_parse_cpus(const char *s, struct sm_bopts *o)
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
			if (o->ncpus == SM_BOPTS_MAX_CPUS)
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

int sm_bopts_parse_url(const char *s, struct sm_bopts_url *u)
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

/* Whole-string unsigned integer in [lo, hi]. */
static int num_u64(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	if (!v || *v < '0' || *v > '9')
		return -1;
	errno = 0;
	char *end;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return -1;
	*out = x;
	return 0;
}

/* Whole-string finite number in [lo, hi]. */
static int num_dbl(const char *v, double lo, double hi, double *out)
{
	if (!v || !*v)
		return -1;
	errno = 0;
	char *end;
	double x = strtod(v, &end);
	if (errno || *end || !(x >= lo && x <= hi))
		return -1;
	*out = x;
	return 0;
}

#define ERR(...)                                                                                   \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		return -1;                                                                         \
	} while (0)

int sm_bopts_parse(int argc, char **argv, struct sm_bopts *o, char *err, size_t errlen)
{
	*o = (struct sm_bopts){.connections = 16,
	                       .duration = 10,
	                       .threads = 1,
	                       .timeout = 10,
	                       .max_errors = 1000,
	                       .connect_window = 64};
	int streams_set = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t u = 0;
		double d = 0;
#define NEEDV()                                                                                    \
	do {                                                                                       \
		if (!v)                                                                            \
			ERR("%s needs a value", a);                                                \
		i++;                                                                               \
	} while (0)
#define U64(lo, hi)                                                                                \
	do {                                                                                       \
		NEEDV();                                                                           \
		if (num_u64(v, lo, hi, &u) < 0)                                                    \
			ERR("%s wants an integer in %llu..%llu, not '%s'", a,                      \
			    (unsigned long long)(lo), (unsigned long long)(hi), v);                \
	} while (0)
#define DBL(lo, hi)                                                                                \
	do {                                                                                       \
		NEEDV();                                                                           \
		if (num_dbl(v, lo, hi, &d) < 0)                                                    \
			ERR("%s wants a number in %g..%g, not '%s'", a, (double)(lo),              \
			    (double)(hi), v);                                                      \
	} while (0)
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			return 1;
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
		} else if (!strcmp(a, "--http2")) {
			o->http2 = 1;
		} else if (!strcmp(a, "--quiet")) {
			o->quiet = 1;
		} else if (!strcmp(a, "--streams")) {
			U64(1, SM_BOPTS_MAX_STREAMS);
			o->streams = (unsigned)u;
			streams_set = 1;
		} else if (!strcmp(a, "--connections") || !strcmp(a, "-c")) {
			U64(1, 1000000);
			o->connections = (unsigned)u;
		} else if (!strcmp(a, "--duration") || !strcmp(a, "-d")) {
			DBL(0.001, 86400);
			o->duration = d;
		} else if (!strcmp(a, "--requests") || !strcmp(a, "-n")) {
			U64(0, UINT64_MAX);
			o->requests = u;
		} else if (!strcmp(a, "--rate")) {
			DBL(0, 1e9);
			o->rate = d;
		} else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
			U64(1, SM_BOPTS_MAX_THREADS);
			o->threads = (unsigned)u;
		} else if (!strcmp(a, "--cpu")) {
			NEEDV();
			if (sm_bopts_parse_cpus(v, o) < 0)
				ERR("bad --cpu list '%s'", v);
		} else if (!strcmp(a, "--timeout")) {
			DBL(0, 86400);
			o->timeout = d;
		} else if (!strcmp(a, "--connect-window")) {
			U64(1, 1000000);
			o->connect_window = (unsigned)u;
		} else if (!strcmp(a, "--max-errors")) {
			U64(0, UINT64_MAX);
			o->max_errors = u;
		} else if (a[0] == '-') {
			ERR("unknown option %s", a);
		} else if (o->url) {
			ERR("more than one URL");
		} else {
			o->url = a;
		}
#undef NEEDV
#undef U64
#undef DBL
	}
	if (!o->url)
		ERR("no URL");
	if (streams_set && !o->http2)
		ERR("--streams needs --http2");
	if (o->http2) {
		if (strncmp(o->url, "https://", 8) != 0)
			ERR("--http2 needs an https:// URL (ALPN h2)");
		if (o->rate > 0)
			ERR("--http2 does not take --rate");
		if (o->hold)
			ERR("--http2 does not take --hold");
		if (!streams_set)
			o->streams = 10;
		if (o->new_conn)
			o->streams = 1; /* one request per connection */
	} else {
		o->streams = 1;
	}
	if (o->threads > o->connections)
		o->threads = o->connections;
	return 0;
}
