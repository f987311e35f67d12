"""Admin endpoint and metrics: real traffic (a CONNECT tunnel and an
absolute-form http:// request) moves the counters by exactly the right
amounts; /healthz, /readyz, 404/405; the exposition passes `promtool check
metrics`; a real Prometheus server scrapes the proxy and sees it up."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from smlib import (ADMIN, BIN, DEADLINE, FakeDNS, Proxy, Server, admin_port, check,
                   check_event_order, connect_via, get, parse, read_all, run_tests, scrape, total)

def promtool_check(text):
    out = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                         capture_output=True, timeout=DEADLINE)
    check(out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(),
          "promtool check metrics: rc %d\n%s%s" % (out.returncode, out.stdout.decode(),
                                                  out.stderr.decode()))


class Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    BODY = b"x" * 1234

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)


UP, DOWN = 1000, 3000


def tunnel_handler(c):
    """Reads exactly UP bytes, answers DOWN bytes, closes."""
    got = 0
    while got < UP:
        b = c.recv(65536)
        if not b:
            return
        got += len(b)
    c.sendall(b"d" * DOWN)


def test_counters_move_by_the_right_amounts():
    srv = Server(tunnel_handler)
    origin = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    origin.daemon_threads = True
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    with Proxy(args=ADMIN) as p:
        port = admin_port(p)
        before = parse(scrape(port))
        check(total(before, "soth_reactors") == 2, "soth_reactors")
        check(total(before, "soth_ready") == 1, "soth_ready")
        check(total(before, "soth_connections_accepted_total") == 0, "accepted before traffic")

        # a CONNECT tunnel: UP bytes up, DOWN bytes down
        target = "127.0.0.1:%d" % srv.port
        s, status, head = connect_via(p.port, target)
        check(status.startswith("HTTP/1.1 200"), status)
        s.sendall(b"u" * UP)
        down = head.split(b"\r\n\r\n", 1)[1] + read_all(s)
        s.close()
        check(len(down) == DOWN, "tunnel down bytes %d" % len(down))

        # an absolute-form request
        c = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
        req = (b"GET http://127.0.0.1:%d/x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               b"Connection: close\r\n\r\n" % (origin.server_address[1], origin.server_address[1]))
        c.sendall(req)
        resp = read_all(c)
        c.close()
        check(resp.startswith(b"HTTP/1.1 200") and resp.endswith(Origin.BODY), resp[:200])

        evs = p.wait_closed(2)
        check_event_order(evs)
        closed = [e for e in evs if e["type"] == "flow_closed"]
        ev_up = sum(e["bytes_up"] for e in closed)
        ev_down = sum(e["bytes_down"] for e in closed)

        # the gauge drops when the slots are freed, just after flow_closed
        end = time.monotonic() + DEADLINE
        while True:
            after = parse(scrape(port))
            if total(after, "soth_connections_open") == 0 or time.monotonic() > end:
                break
            time.sleep(0.02)
        promtool_check(scrape(port))

        def delta(name, **lb):
            return total(after, name, **lb) - total(before, name, **lb)

        expect = [
            (("soth_connections_accepted_total",), {}, 2),
            (("soth_connections_open",), {}, 0),
            (("soth_flows_closed_total",), {"reason": "done"}, 2),
            (("soth_flows_closed_total",), {}, 2),
            (("soth_flow_decisions_total",), {"action": "tunnel"}, 2),
            (("soth_flow_decisions_total",), {"action": "block"}, 0),
            (("soth_upstream_connects_total",), {}, 2),
            (("soth_upstream_failures_total",), {}, 0),
            (("soth_proxy_requests_total",), {"kind": "connect"}, 1),
            (("soth_proxy_requests_total",), {"kind": "http"}, 1),
            (("soth_http_responses_total",), {"class": "2xx"}, 1),
            (("soth_http_responses_total",), {}, 1),
            (("soth_relayed_bytes_total",), {"lane": "tunnel", "direction": "up"}, UP),
            (("soth_relayed_bytes_total",), {"lane": "tunnel", "direction": "down"}, DOWN),
            # every byte the events report, split by lane
            (("soth_relayed_bytes_total",), {"direction": "up"}, ev_up),
            (("soth_relayed_bytes_total",), {"direction": "down"}, ev_down),
            (("soth_relayed_bytes_total",), {"lane": "http", "direction": "up"}, ev_up - UP),
            (("soth_parser_errors_total",), {}, 0),
            (("soth_events_dropped_total",), {}, 0),
            (("soth_upstream_connect_duration_seconds_count",), {}, 2),
            (("soth_upstream_connect_duration_seconds_bucket",), {"le": "+Inf"}, 2),
            (("soth_dns_lookup_duration_seconds_count",), {}, 0),  # IP literals
            (("soth_http_time_to_first_byte_seconds_count",), {}, 1),
            (("soth_http_request_duration_seconds_count",), {}, 1),
            (("soth_flow_duration_seconds_count",), {}, 2),
        ]
        for (name,), lb, want in expect:
            got = delta(name, **lb)
            check(got == want, "%s%s moved by %s, expected %s" % (name, lb, got, want))
        check(ev_up > UP and ev_down > DOWN, "events bytes %d %d" % (ev_up, ev_down))
        # per-core series add up: each flow is on one core
        cores = {lb for (n, lb) in after if n == "soth_connections_accepted_total"}
        check(cores == {(("core", "0"),), (("core", "1"),)}, "core labels: %s" % cores)
        # latencies are real times: positive sums, first byte <= total
        fb = total(after, "soth_http_time_to_first_byte_seconds_sum")
        tot = total(after, "soth_http_request_duration_seconds_sum")
        check(0 < fb <= tot < DEADLINE, "first byte %s total %s" % (fb, tot))
        check(total(after, "soth_upstream_connect_duration_seconds_sum") > 0, "connect sum")
        # events written by the collector are counted
        check(total(after, "soth_events_written_total") >= len(evs), "events written")
        check(total(after, "soth_admin_requests_total") >= 2, "admin requests")
    srv.close()
    origin.shutdown()


def test_dns_latency_and_failures():
    origin = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    origin.daemon_threads = True
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    dns = FakeDNS({"origin.test": ["127.0.0.1"]})
    with Proxy(args=ADMIN + ["--set", "dns_servers=" + dns.server]) as p:
        port = admin_port(p)
        for name in ("origin.test", "missing.test"):
            c = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
            c.sendall(b"GET http://%s:%d/ HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                      % (name.encode(), origin.server_address[1], name.encode()))
            resp = read_all(c)
            c.close()
            want = b"HTTP/1.1 200" if name == "origin.test" else b"HTTP/1.1 502"
            check(resp.startswith(want), resp[:100])
        p.wait_closed(2)
        m = parse(scrape(port))
        check(total(m, "soth_dns_lookup_duration_seconds_count") == 2, "two lookups timed")
        check(total(m, "soth_dns_lookup_duration_seconds_sum") > 0, "dns sum")
        check(total(m, "soth_upstream_failures_total", reason="dns_nxdomain") == 1, "nxdomain")
        check(total(m, "soth_upstream_failures_total") == 1, "one failure")
        check(total(m, "soth_flows_closed_total", reason="dns_failed") == 1, "dns_failed close")
        check(total(m, "soth_upstream_connects_total") == 1, "one connect")
    dns.close()
    origin.shutdown()


def test_health_ready_and_errors():
    with Proxy(args=ADMIN) as p:
        port = admin_port(p)
        st, hdrs, body = get(port, "/healthz")
        check((st, body) == (200, b"ok\n"), (st, body))
        check(hdrs.get("Connection") == "close", hdrs)
        st, _, body = get(port, "/readyz")
        check((st, body) == (200, b"ready\n"), (st, body))
        st, _, _ = get(port, "/nope")
        check(st == 404, st)
        st, hdrs, _ = get(port, "/metrics", method="POST")
        check(st == 405 and hdrs.get("Allow") == "GET", (st, hdrs))
        # a bad request line and an oversized head are answered, not hung
        s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        s.sendall(b"GET metrics\r\n\r\n")
        check(read_all(s).startswith(b"HTTP/1.1 400 "), "400 expected")
        s.close()
        s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        s.sendall(b"GET / HTTP/1.1\r\nX: " + b"a" * 8000)
        check(read_all(s).startswith(b"HTTP/1.1 431 "), "431 expected")
        s.close()
        # the proxy still serves traffic and scrapes afterwards
        check(total(parse(scrape(port)), "soth_admin_requests_total") >= 6, "requests")


def test_readyz_turns_503_while_draining():
    release = threading.Event()

    def h(c):
        c.sendall(b"x")
        release.wait(DEADLINE)
    srv = Server(h)
    p = Proxy(args=ADMIN + ["--set", "timeouts.shutdown_grace_ms=20000"])
    try:
        port = admin_port(p)
        check(get(port, "/readyz")[0] == 200, "ready before the drain")
        s, status, _ = connect_via(p.port, "127.0.0.1:%d" % srv.port)
        check(status.startswith("HTTP/1.1 200"), status)
        p.proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + DEADLINE
        while get(port, "/readyz")[0] != 503:
            check(time.monotonic() < end, "/readyz still 200 while draining")
            time.sleep(0.02)
        check(p.proc.poll() is None, "proxy exited with a flow in flight")
        # still scrapeable while draining, and it says so
        m = parse(scrape(port))
        check(total(m, "soth_ready") == 0 and total(m, "soth_connections_open") == 1, m)
        check(get(port, "/healthz")[0] == 200, "healthz while draining")
        release.set()
        read_all(s)
        s.close()
        check(p.stop() == 0, "exit code")
    finally:
        release.set()
        if p.proc.poll() is None:
            p.proc.kill()
        srv.close()


def test_admin_is_off_unless_set_and_bad_address_exits_2():
    with Proxy() as p:
        pass
    check(not any("admin on" in l for l in p.stderr_lines), p.stderr_lines)
    out = subprocess.run([BIN, "--listen", "127.0.0.1:0", "--admin", "localhost:x"],
                         capture_output=True, timeout=DEADLINE)
    check(out.returncode == 2 and b"admin" in out.stderr, (out.returncode, out.stderr))
    d = tempfile.mkdtemp(prefix="sm-it-")
    cfg = os.path.join(d, "c.yaml")
    with open(cfg, "w") as f:
        f.write("admin: \"127.0.0.1:0\"\n")
    with Proxy(args=["--config", cfg]) as p:
        port = admin_port(p)
        check(get(port, "/healthz")[0] == 200, "admin from the config file")
    shutil.rmtree(d, ignore_errors=True)


def test_intercepted_traffic_and_tls_failures_are_counted():
    from tlslab import Lab, tls_server
    lab = Lab()
    good_crt, good_key = lab.leaf("good")
    good = tls_server(good_crt, good_key, alpn=["http/1.1"])
    rogue_crt, rogue_key = lab.leaf("rogue", rogue=True)
    rogue = tls_server(rogue_crt, rogue_key)
    cadir = os.path.join(lab.dir, "proxy-ca")
    args = ADMIN + ["--set", "default_action=intercept", "--ca-dir", cadir,
                    "--upstream-ca", lab.ca, "--set", "tls.system_ca="]
    with Proxy(args=args, threads=1) as p:  # one reactor: one leaf cache
        port = admin_port(p)
        before = parse(scrape(port))
        ca = os.path.join(cadir, "ca.pem")
        url = "https://localhost:%d" % good.port

        def curl(*a):
            return subprocess.run(["curl", "-sS", "-m", "20", "--cacert", ca, "-x", p.url] +
                                  list(a), capture_output=True, timeout=DEADLINE)
        out = curl(url + "/a", url + "/b")  # two requests on one connection
        check(out.returncode == 0, out.stderr)
        out = curl(url + "/c")  # a second connection: the leaf comes from the cache
        check(out.returncode == 0, out.stderr)
        out = curl("https://localhost:%d/" % rogue.port)  # upstream not trusted
        check(b"502" in out.stdout, out.stdout)
        evs = p.wait_closed(3)
        closed = [e for e in evs if e["type"] == "flow_closed"]
        end = time.monotonic() + DEADLINE
        while True:
            after = parse(scrape(port))
            if total(after, "soth_connections_open") == 0 or time.monotonic() > end:
                break
            time.sleep(0.02)

        def delta(name, **lb):
            return total(after, name, **lb) - total(before, name, **lb)

        expect = [
            ("soth_flow_decisions_total", {"action": "intercept"}, 3),
            ("soth_proxy_requests_total", {"kind": "connect"}, 3),
            ("soth_proxy_requests_total", {"kind": "http"}, 3),
            ("soth_http_responses_total", {"class": "2xx"}, 3),
            ("soth_tls_handshakes_total", {"side": "client"}, 3),
            ("soth_tls_handshakes_total", {"side": "server"}, 2),
            ("soth_tls_handshake_failures_total", {"side": "server", "reason": "unknown_ca"}, 1),
            ("soth_tls_handshake_failures_total", {}, 1),
            ("soth_tls_certs_forged_total", {}, 1),
            ("soth_tls_cert_cache_hits_total", {}, 2),
            ("soth_http_time_to_first_byte_seconds_count", {}, 3),
            ("soth_http_request_duration_seconds_count", {}, 3),
            ("soth_relayed_bytes_total", {"direction": "up"}, sum(e["bytes_up"] for e in closed)),
            ("soth_relayed_bytes_total", {"direction": "down"},
             sum(e["bytes_down"] for e in closed)),
            ("soth_connections_open", {}, 0),
        ]
        bad = []
        for name, lb, want in expect:
            got = delta(name, **lb)
            if got != want:
                bad.append("%s%s moved by %s, expected %s" % (name, lb, got, want))
        check(not bad, "\n".join(bad))
        check(delta("soth_relayed_bytes_total", lane="mitm", direction="down") > 0, "mitm lane")
        promtool_check(scrape(port))
    good.close()
    rogue.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def prom_query(port, q):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.request.quote(q))
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())["data"]["result"]


def test_real_prometheus_scrapes_the_proxy():
    prom = shutil.which("prometheus")
    check(prom is not None, "prometheus is not installed (toolchain/install-deps.sh --test)")
    with Proxy(args=ADMIN) as p:
        port = admin_port(p)
        d = tempfile.mkdtemp(prefix="sm-prom-")
        cfg = os.path.join(d, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: soth\n    scrape_interval: 1s\n"
                    "    scrape_timeout: 1s\n"
                    "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % port)
        web = free_port()
        log = open(os.path.join(d, "prometheus.log"), "w+")
        proc = subprocess.Popen([prom, "--config.file=" + cfg,
                                 "--storage.tsdb.path=" + os.path.join(d, "data"),
                                 "--web.listen-address=127.0.0.1:%d" % web],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            end = time.monotonic() + 60
            up = reactors = None
            while time.monotonic() < end:
                check(proc.poll() is None, "prometheus exited: rc %s" % proc.returncode)
                try:
                    up = prom_query(web, 'up{job="soth"}')
                    reactors = prom_query(web, 'soth_reactors{job="soth"}')
                except (OSError, ValueError, KeyError):
                    up = None
                if up and up[0]["value"][1] == "1" and reactors:
                    break
                time.sleep(0.2)
            if not (up and up[0]["value"][1] == "1" and reactors):
                log.seek(0)
                raise AssertionError("prometheus never saw the target up: %s\n%s"
                                     % (up, log.read()[-3000:]))
            check(reactors[0]["value"][1] == "2", reactors)
            # the target reports no scrape error
            with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/targets" % web,
                                        timeout=5) as r:
                targets = json.loads(r.read())["data"]["activeTargets"]
            check(len(targets) == 1 and targets[0]["health"] == "up"
                  and not targets[0]["lastError"], targets)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    run_tests([test_counters_move_by_the_right_amounts, test_dns_latency_and_failures,
               test_health_ready_and_errors,
               test_readyz_turns_503_while_draining,
               test_admin_is_off_unless_set_and_bad_address_exits_2,
               test_intercepted_traffic_and_tls_failures_are_counted,
               test_real_prometheus_scrapes_the_proxy])
