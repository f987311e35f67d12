/* soth-mitm: command line, configuration, signals. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "core/config.h"
#include "core/proxy.h"
#include "base/result.h"
#include "tls/ca_cli.h"

static const char usage[] =
        "Usage: soth-mitm [options]\n"
        "       soth-mitm check [options]   validate the configuration the options give,\n"
        "                                   print it, exit 0 (valid) or 2; starts nothing\n"
        "       soth-mitm [--ca-dir DIR] ca export [--der] [--ca-dir DIR]\n"
        "       soth-mitm [--ca-dir DIR] ca path [--ca-dir DIR]\n"
        "\n"
        "An explicit HTTP(S) proxy: CONNECT requests are intercepted (TLS terminated with\n"
        "a certificate from the local CA), tunnelled or blocked by policy; plain http://\n"
        "requests are relayed; every flow is reported as JSONL events.\n"
        "\n"
        "Options:\n"
        "  -l, --listen ADDR:PORT  listen address, repeatable (default 127.0.0.1:8080;\n"
        "                          IPv6 as [::1]:8080; port 0 picks a free port)\n"
        "  -t, --threads N         reactor threads, each pinned to a CPU (default: one per\n"
        "                          CPU this process may use; more than that only with\n"
        "                          --allow-oversubscribe; never more than 1024)\n"
        "      --allow-oversubscribe  let --threads exceed the CPU count (allow_oversubscribe)\n"
        "  -c, --config FILE       YAML configuration (docs/config.md)\n"
        "  -s, --set KEY=VALUE     override one configuration key after the file,\n"
        "                          repeatable (e.g. --set default_action=block)\n"
        "  -e, --events PATH       write flow events as JSONL to PATH ('-' = stdout)\n"
        "  -a, --admin ADDR:PORT   serve /metrics (Prometheus), /healthz and /readyz\n"
        "                          on ADDR:PORT (off unless set; docs/metrics.md)\n"
        "      --ca-dir DIR        local CA directory (default ~/.local/share/soth-mitm)\n"
        "      --upstream-ca FILE  also trust this PEM file for upstream servers, repeatable\n"
        "      --insecure-host GLOB  do not verify this host's certificate, repeatable\n"
        "                          (visible in events and in 502 bodies)\n"
        "      --keylog FILE       append the secrets of intercepted TLS 1.3 sessions to\n"
        "                          FILE in SSLKEYLOGFILE format (Wireshark; both sides)\n"
        "  -h, --help              show this help and exit\n"
        "  -V, --version           print the version and exit\n"
        "\n"
        "Signals: SIGINT/SIGTERM stop accepting, let in-flight flows finish for up to\n"
        "timeouts.shutdown_grace_ms, then exit 0. During start-up they stop it before\n"
        "it accepts (between reactor builds), also with exit 0. SIGHUP reloads: the\n"
        "same command line is read again for new connections; running ones keep\n"
        "theirs; a file that fails, or changes what only a restart can (listen,\n"
        "threads, ...), leaves everything as it was (docs/config.md, Reload).\n"
        "SIGUSR1 reopens the events file and the key log (log rotation).\n";

struct list {
	char buf[4096];
	size_t len;
};

struct cli {
	struct list upstream_ca[1], insecure[1];
	const char *config;
	const char *sets[256];
	int n_sets;
	char listen[4096];
	size_t listen_len;
};

static int need_arg(int argc, char **argv, int *i, const char **val)
{
	const char *opt = argv[*i];
	const char *eq = strchr(opt, '=');
	if (strncmp(opt, "--", 2) == 0 && eq) {
		*val = eq + 1;
		return 0;
	}
	if (*i + 1 >= argc) {
		fprintf(stderr, "soth-mitm: option %s needs a value (see --help)\n", opt);
		return -1;
	}
	*val = argv[++*i];
	return 0;
}

static bool is_opt(const char *arg, const char *s, const char *l)
{
	size_t n = strlen(l);
	return strcmp(arg, s) == 0 || strcmp(arg, l) == 0 ||
	       (strncmp(arg, l, n) == 0 && arg[n] == '=');
}

static int append_list(struct list *l, const char *v)
{
	size_t n = strlen(v);
	if (l->len + n + 2 > sizeof(l->buf)) {
		fprintf(stderr, "soth-mitm: option list too long\n");
		return -1;
	}
	if (l->len)
		l->buf[l->len++] = ',';
	memcpy(l->buf + l->len, v, n + 1);
	l->len += n;
	return 0;
}

/* Returns 0 to continue, 1 to exit 0, -1 to exit 2. */
static int parse_cli(int argc, char **argv, struct cli *c, char *scratch, size_t scratch_cap)
{
	size_t used = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			return 1;
		}
		if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("soth-mitm %s\n", SM_VERSION);
			return 1;
		}
		if (c->n_sets >= (int)(sizeof(c->sets) / sizeof(c->sets[0])) - 4) {
			fprintf(stderr, "soth-mitm: too many options\n");
			return -1;
		}
		const char *key = NULL;
		if (is_opt(a, "-l", "--listen")) {
			if (need_arg(argc, argv, &i, &v))
				return -1;
			size_t n = strlen(v);
			if (c->listen_len + n + 2 > sizeof(c->listen)) {
				fprintf(stderr, "soth-mitm: too many --listen addresses\n");
				return -1;
			}
			if (c->listen_len)
				c->listen[c->listen_len++] = ',';
			memcpy(c->listen + c->listen_len, v, n + 1);
			c->listen_len += n;
			continue;
		} else if (is_opt(a, "-t", "--threads")) {
			key = "threads";
		} else if (strcmp(a, "--allow-oversubscribe") == 0) {
			c->sets[c->n_sets++] = "allow_oversubscribe=true";
			continue;
		} else if (is_opt(a, "-e", "--events")) {
			key = "events";
		} else if (is_opt(a, "-a", "--admin")) {
			key = "admin";
		} else if (is_opt(a, "--ca-dir", "--ca-dir")) {
			key = "tls.ca_dir";
		} else if (is_opt(a, "--keylog", "--keylog")) {
			key = "tls.keylog";
		} else if (is_opt(a, "--upstream-ca", "--upstream-ca")) {
			if (need_arg(argc, argv, &i, &v) || append_list(c->upstream_ca, v) != 0)
				return -1;
			continue;
		} else if (is_opt(a, "--insecure-host", "--insecure-host")) {
			if (need_arg(argc, argv, &i, &v) || append_list(c->insecure, v) != 0)
				return -1;
			continue;
		} else if (is_opt(a, "-c", "--config")) {
			if (need_arg(argc, argv, &i, &v))
				return -1;
			c->config = v;
			continue;
		} else if (is_opt(a, "-s", "--set")) {
			if (need_arg(argc, argv, &i, &v))
				return -1;
			c->sets[c->n_sets++] = v;
			continue;
		} else {
			fprintf(stderr, "soth-mitm: unknown option '%s' (see --help)\n", a);
			return -1;
		}
		if (need_arg(argc, argv, &i, &v))
			return -1;
		if (strcmp(key, "threads") == 0 && v[0] && strspn(v, "0123456789") == strlen(v) &&
		    (strlen(v) > 9 || atol(v) > SM_CONFIG_MAX_THREADS)) {
			fprintf(stderr,
			        "soth-mitm: --threads %s: at most %d reactors, the absolute cap "
			        "(even "
			        "with --allow-oversubscribe)\n",
			        v, SM_CONFIG_MAX_THREADS);
			return -1;
		}
		int n = snprintf(scratch + used, scratch_cap - used, "%s=%s", key, v);
		if (n < 0 || (size_t)n >= scratch_cap - used) {
			fprintf(stderr, "soth-mitm: option value too long\n");
			return -1;
		}
		c->sets[c->n_sets++] = scratch + used;
		used += (size_t)n + 1;
	}
	return 0;
}

/* Same shape as every other line we log, so one grep finds them. */
static void warn_line(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "soth-mitm: warning: %s\n", line);
}

/* Start-up state for the build hooks: SIGINT/SIGTERM stay blocked (the
 * threads inherit the mask) and are polled here, so no handler and no
 * global flag are needed. */
struct startup {
	sigset_t set;
	int sig; /* the signal that stopped start-up, 0 = none */
};

static bool startup_interrupted(void *arg)
{
	struct startup *st = arg;
	const struct timespec now = {0, 0};
	int sig = sigtimedwait(&st->set, NULL, &now);
	if (sig > 0)
		st->sig = sig;
	return sig > 0;
}

static void startup_building(void *arg, int n, size_t each)
{
	(void)arg;
	int cpus = sm_proxy_cpus();
	fprintf(stderr,
	        "soth-mitm: building %d reactor%s for %d CPU%s, about %zu MiB each "
	        "(docs/architecture.md, Memory per reactor)\n",
	        n, n == 1 ? "" : "s", cpus, cpus == 1 ? "" : "s", (each + (1u << 19)) >> 20);
}

static const char *sig_name(int sig)
{
	return sig == SIGINT ? "SIGINT" : "SIGTERM";
}

/* The configuration as the command line asks: the file (or the
 * defaults), then --listen, --upstream-ca, --insecure-host and each --set
 * in order. At start and again for each reload. */
static int build_config(const struct cli *c, struct sm_config **out, char *err, size_t errcap)
{
	static char listen_kv[4200], kv[4200];
	struct sm_config *cfg = NULL;
	int rc = SM_OK;
	if (c->config)
		rc = sm_config_load_file(c->config, &cfg, err, errcap);
	else if ((cfg = sm_config_default()) == NULL)
		rc = SM_ERR_NOMEM, snprintf(err, errcap, "out of memory");
	if (rc != SM_OK)
		return rc;
	if (c->listen_len) {
		snprintf(listen_kv, sizeof(listen_kv), "listen=%s", c->listen);
		rc = sm_config_set(cfg, listen_kv, err, errcap);
	}
	const struct {
		const char *key;
		const struct list *l;
	} lists[] = {{"tls.upstream_ca", c->upstream_ca}, {"tls.insecure_hosts", c->insecure}};
	for (size_t i = 0; rc == SM_OK && i < sizeof(lists) / sizeof(lists[0]); i++) {
		if (!lists[i].l->len)
			continue;
		snprintf(kv, sizeof(kv), "%s=%s", lists[i].key, lists[i].l->buf);
		rc = sm_config_set(cfg, kv, err, errcap);
	}
	for (int i = 0; rc == SM_OK && i < c->n_sets; i++)
		rc = sm_config_set(cfg, c->sets[i], err, errcap);
	if (rc != SM_OK) {
		sm_config_free(cfg);
		return rc;
	}
	sm_config_apply_disable(cfg); /* kill switches win over --set too */
	*out = cfg;
	return SM_OK;
}

/* Waits up to ms for a signal of set: true when one came. */
static bool wait_signal(const sigset_t *set, uint32_t ms)
{
	const struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};
	return sigtimedwait(set, NULL, &t) > 0;
}

/* systemd's notify protocol (Type=notify): one datagram to $NOTIFY_SOCKET
 * (a path, or @ for the abstract namespace); nothing when it is unset.
 * Main thread only. */
static void notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || (path[0] != '/' && path[0] != '@'))
		return;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	if (n >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	ssize_t w = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
	                   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	(void)w; /* best effort: systemd times out on its own */
	close(fd);
}

/* `soth-mitm check ...`: what a start (or a reload) with these options
 * would run with, or the error; like nginx -t. The CA and trusted-roots
 * files are checked when the proxy starts, not here. */
static int check_config(const struct cli *c)
{
	char err[1024];
	struct sm_config *cfg = NULL;
	if (build_config(c, &cfg, err, sizeof(err)) != SM_OK) {
		fprintf(stderr, "soth-mitm: %s\n", err);
		return 2;
	}
	sm_config_warnings(cfg, warn_line, NULL);
	printf("# soth-mitm check: %s is valid; the effective configuration:\n",
	       c->config ? c->config : "the command line");
	sm_config_dump(cfg, stdout);
	sm_config_free(cfg);
	return 0;
}

/* SIGHUP: the same command line read again. A file that does not load,
 * or asks for what only a restart can change, leaves everything as it was. */
static void reload_now(const struct cli *c, struct sm_proxy *p, char *err, size_t errcap);

static void reload(const struct cli *c, struct sm_proxy *p)
{
	char err[1024], msg[96];
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	         (unsigned long long)now.tv_sec * 1000000ull +
	                 (unsigned long long)now.tv_nsec / 1000);
	notify(msg);
	reload_now(c, p, err, sizeof(err));
	notify("READY=1");
}

static void reload_now(const struct cli *c, struct sm_proxy *p, char *err, size_t errcap)
{
	struct sm_config *cfg = NULL;
	if (build_config(c, &cfg, err, errcap) != SM_OK) {
		sm_proxy_reload_failed(p);
		fprintf(stderr,
		        "soth-mitm: SIGHUP: reload failed: %s; the running configuration stays\n",
		        err);
		return;
	}
	if (sm_proxy_reload(p, cfg, err, errcap) != SM_OK) {
		fprintf(stderr, "soth-mitm: SIGHUP: reload refused: %s\n", err);
		sm_config_free(cfg);
		return;
	}
	sm_config_warnings(sm_proxy_config(p), warn_line, NULL);
	fprintf(stderr,
	        "soth-mitm: SIGHUP: reloaded %s (configuration %llu, for new connections)\n",
	        c->config ? c->config : "the command line",
	        (unsigned long long)sm_proxy_config_epoch(p));
}

/* Every connection is a descriptor (two once proxied): the soft limit is
 * raised to the hard one, and the figure said, since it bounds the flows
 * more tightly than limits.max_flows_per_thread usually does. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		fprintf(stderr, "soth-mitm: open files: unlimited\n");
	else
		fprintf(stderr,
		        "soth-mitm: open files: up to %llu (about %llu proxied connections; "
		        "raise the hard limit for more)\n",
		        (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_cur / 2);
}

static void print_listeners(const struct sm_proxy *p)
{
	for (size_t i = 0; i < sm_proxy_n_listen(p); i++) {
		struct sockaddr_storage a;
		socklen_t len;
		char ip[INET6_ADDRSTRLEN] = "?";
		unsigned port = 0;
		sm_proxy_listen_addr(p, i, &a, &len);
		if (a.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&a)->sin_addr, ip, sizeof(ip));
			port = ntohs(((struct sockaddr_in *)&a)->sin_port);
			fprintf(stderr, "soth-mitm: listening on %s:%u (%d reactors)\n", ip, port,
			        sm_proxy_n_reactors(p));
		} else {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a)->sin6_addr, ip,
			          sizeof(ip));
			port = ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
			fprintf(stderr, "soth-mitm: listening on [%s]:%u (%d reactors)\n", ip, port,
			        sm_proxy_n_reactors(p));
		}
	}
	struct sockaddr_storage aa;
	socklen_t alen;
	if (sm_proxy_admin_addr(p, &aa, &alen) == SM_OK) {
		char ip[INET6_ADDRSTRLEN] = "?";
		if (aa.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&aa)->sin_addr, ip, sizeof(ip));
			fprintf(stderr, "soth-mitm: admin on %s:%u\n", ip,
			        ntohs(((struct sockaddr_in *)&aa)->sin_port));
		} else {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&aa)->sin6_addr, ip,
			          sizeof(ip));
			fprintf(stderr, "soth-mitm: admin on [%s]:%u\n", ip,
			        ntohs(((struct sockaddr_in6 *)&aa)->sin6_port));
		}
	}
}

int main(int argc, char **argv)
{
	static char scratch[16384];
	static struct cli cli;
	/* `ca` subcommand; --ca-dir may come before it as well as after */
	const char *ca_dir = NULL;
	int sub = 1;
	while (sub < argc) {
		if (strcmp(argv[sub], "--ca-dir") == 0 && sub + 1 < argc)
			ca_dir = argv[sub + 1], sub += 2;
		else if (strncmp(argv[sub], "--ca-dir=", 9) == 0)
			ca_dir = argv[sub] + 9, sub++;
		else
			break;
	}
	if (sub < argc && strcmp(argv[sub], "ca") == 0)
		return sm_ca_cli(ca_dir, argc - sub, argv + sub, stdout, stderr);
	bool check = argc >= 2 && strcmp(argv[1], "check") == 0;
	int rc = check ? parse_cli(argc - 1, argv + 1, &cli, scratch, sizeof(scratch))
	               : parse_cli(argc, argv, &cli, scratch, sizeof(scratch));
	if (rc)
		return rc > 0 ? 0 : 2;
	if (check)
		return check_config(&cli);

	char err[1024];
	struct sm_config *cfg = NULL;
	if (build_config(&cli, &cfg, err, sizeof(err)) != SM_OK) {
		fprintf(stderr, "soth-mitm: %s\n", err);
		return 2;
	}

	sm_config_warnings(cfg, warn_line, NULL);

	int events_fd = -1;
	if (cfg->events && strcmp(cfg->events, "-") == 0) {
		events_fd = STDOUT_FILENO;
	} else if (cfg->events) {
		events_fd = open(cfg->events, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (events_fd < 0) {
			fprintf(stderr, "soth-mitm: cannot open events file %s: %s\n", cfg->events,
			        strerror(errno));
			sm_config_free(cfg);
			return 2;
		}
	}

	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	struct startup su = {.set = set};       /* a SIGHUP waits for the start to end */
	sigaddset(&set, SIGHUP);                /* a reload, never the end (its default action) */
	sigaddset(&set, SIGUSR1);               /* log rotation: reopen the files */
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit the mask */

	const struct sm_proxy_hooks hooks = {
	        .building = startup_building, .interrupted = startup_interrupted, .arg = &su};
	struct sm_proxy *p = NULL;
	rc = sm_proxy_create_ex(cfg, events_fd, &hooks, &p, err, sizeof(err));
	if (rc == SM_OK)
		rc = sm_proxy_start(p, err, sizeof(err));
	if (rc != SM_OK) {
		if (su.sig)
			fprintf(stderr, "soth-mitm: %s during start-up: %s; exiting\n",
			        sig_name(su.sig), err);
		else
			fprintf(stderr, "soth-mitm: %s\n", err);
		sm_proxy_destroy(p);
		sm_config_free(cfg);
		if (events_fd > STDERR_FILENO)
			close(events_fd);
		if (su.sig)
			return 0;                    /* asked to stop, and stopped */
		return rc == SM_ERR_INVALID ? 2 : 1; /* 2: the configuration is wrong */
	}
	/* main thread, start-up only: wait for every reactor (10 s, plus 20 ms
	 * a reactor: they set up their rings concurrently), or for a signal */
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long limit_ms = 10000 + 20L * sm_proxy_n_reactors(p), waited_ms = 0;
	while (waited_ms < limit_ms && !sm_proxy_ready(p) && !sm_proxy_failed(p)) {
		const struct timespec ms = {0, 1000000};
		int sig = sigtimedwait(&su.set, NULL, &ms);
		if (sig > 0) {
			su.sig = sig;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		waited_ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
	}
	if (su.sig) {
		fprintf(stderr, "soth-mitm: %s during start-up: reactors were starting; exiting\n",
		        sig_name(su.sig));
		sm_proxy_stop(p);
		sm_proxy_wait(p);
		sm_proxy_destroy(p);
		sm_config_free(cfg);
		if (events_fd > STDERR_FILENO)
			close(events_fd);
		return 0;
	}
	if (!sm_proxy_ready(p)) {
		fprintf(stderr, "soth-mitm: %s\n",
		        sm_proxy_failed(p) ? "a reactor failed to start"
		                           : "reactors did not start");
		sm_proxy_stop(p);
		sm_proxy_wait(p);
		sm_proxy_destroy(p);
		sm_config_free(cfg);
		return 1;
	}
	print_listeners(p);

	char ready[128];
	snprintf(ready, sizeof(ready), "READY=1\nMAINPID=%ld", (long)getpid());
	notify(ready);
	int sig = 0;
	while (sigwait(&set, &sig) == 0 && (sig == SIGHUP || sig == SIGUSR1)) {
		if (sig == SIGHUP) {
			reload(&cli, p);
			continue;
		}
		fprintf(stderr, "soth-mitm: SIGUSR1: reopening the events file and the key log\n");
		sm_proxy_reopen_logs(p);
	}
	notify("STOPPING=1");
	const struct sm_config *run = sm_proxy_config(p);
	bool now = false;
	if (run->timeouts.drain_delay_ms) {
		/* /readyz says 503 while the listeners still accept, so a load
		 * balancer stops sending first; another SIGINT/SIGTERM cuts it */
		fprintf(stderr, "soth-mitm: %s: not ready; closing the listeners in %u ms\n",
		        sig_name(sig), run->timeouts.drain_delay_ms);
		sm_proxy_unready(p);
		now = wait_signal(&su.set, run->timeouts.drain_delay_ms);
	}
	fprintf(stderr, "soth-mitm: %s: draining (up to %u ms; %s again to stop at once)\n",
	        sig_name(sig), run->timeouts.shutdown_grace_ms, sig_name(sig));
	sm_proxy_stop(p);
	while (!now && !sm_proxy_stopped(p))
		now = wait_signal(&su.set, 50);
	if (now) {
		fprintf(stderr, "soth-mitm: stopping at once: open connections are closed\n");
		sm_proxy_stop_now(p);
	}
	sm_proxy_wait(p);
	struct sm_proxy_stats st;
	sm_proxy_stats(p, &st);
	fprintf(stderr, "soth-mitm: stopped after %llu connections (%llu events dropped)\n",
	        (unsigned long long)st.accepted, (unsigned long long)st.events_dropped);
	sm_proxy_destroy(p);
	sm_config_free(cfg);
	if (events_fd > STDERR_FILENO)
		close(events_fd);
	return 0;
}
