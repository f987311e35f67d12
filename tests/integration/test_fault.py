"""Fault injection: rules on host, SNI, method and path answer instead of the
upstream, with a probability rolled from the seeded per-reactor RNG, after a
delay (a timer) or with a reset; on intercepted HTTPS and on plain HTTP."""
import os
import socket
import subprocess
import time

from smlib import DEADLINE, Proxy, check, http_response, run_tests
from tlslab import Lab, http_responder, tls_server
from smlib import Server

LAB = Lab()
RATE_LIMIT = '{"error":{"type":"rate_limit_error"}}'


def counting_origin():
    hits = []

    def h(c):
        hits.append(1)
        http_responder(b"origin\n")(c)
    srv = Server(h)
    srv.hits = hits
    return srv


def fault_config(prob, extra="", seed=42, host="localhost"):
    return """
default_action: intercept
seed: %d
rules:
  - host: "%s"
    path: "/v1/*"
    action: fault
    fault: { status: 429, body: '%s', probability: %s %s }
""" % (seed, host, RATE_LIMIT, prob, extra)


def mitm(config, threads=2):
    cadir = os.path.join(LAB.dir, "ca")
    p = Proxy(config, args=["--ca-dir", cadir, "--upstream-ca", LAB.ca, "--set", "tls.system_ca="],
              threads=threads)
    p.ca = os.path.join(cadir, "ca.pem")
    return p


def curl(p, url):
    out = subprocess.run(["curl", "-sS", "-m", "20", "--cacert", p.ca, "-x", p.url, "-w",
                          "\n%{http_code}", url], capture_output=True, timeout=DEADLINE)
    check(out.returncode == 0, "curl: %s" % out.stderr)
    body, code = out.stdout.rsplit(b"\n", 1)
    return int(code), body


def test_probability_one_always_answers_429_over_https():
    crt, key = LAB.leaf("f1")
    srv = tls_server(crt, key)
    with mitm(fault_config("1.0")) as p:
        for _ in range(5):
            code, body = curl(p, "https://localhost:%d/v1/messages" % srv.port)
            check(code == 429 and body == RATE_LIMIT.encode(), (code, body))
        code, body = curl(p, "https://localhost:%d/other" % srv.port)
        check(code == 200, "a path outside /v1/* reaches the origin: %d" % code)
        evs = p.wait_closed(6)
        faults = [e for e in evs if e["type"] == "fault_injected"]
        check(len(faults) == 5 and all(f["status"] == 429 and f["target"] == "/v1/messages"
                                       for f in faults), faults)
        check(sum(e["reason"] == "fault" for e in evs if e["type"] == "flow_closed") == 5, evs)
    srv.close()


def test_probability_zero_never_fires():
    crt, key = LAB.leaf("f0")
    srv = tls_server(crt, key)
    with mitm(fault_config("0.0")) as p:
        for _ in range(5):
            code, body = curl(p, "https://localhost:%d/v1/x" % srv.port)
            check(code == 200 and body.startswith(b"hello from the origin"), (code, body))
        evs = p.wait_closed(5)
        check(not [e for e in evs if e["type"] == "fault_injected"], "no fault expected")
    srv.close()


def plain_get(p, port, path):
    s = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
    s.sendall(b"GET http://localhost:%d%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % (port, path))
    status, _, body = http_response(s)
    s.close()
    return status, body


def test_half_probability_is_binomial_and_reproducible_over_plain_http():
    srv = counting_origin()
    patterns = []
    for run in range(2):
        with mitm(fault_config("0.5", seed=1234), threads=1) as p:
            seq = [plain_get(p, srv.port, b"/v1/chat")[0] for _ in range(1000)]
            patterns.append(seq)
            p.wait_closed(1000)
        check(set(seq) == {200, 429}, set(seq))
        fired = seq.count(429)
        check(440 <= fired <= 560, "0.5 over 1000 requests fired %d times" % fired)
    check(patterns[0] == patterns[1], "the same seed must give the same sequence")
    check(len(srv.hits) == patterns[0].count(200) * 2, "only unfaulted requests reach the origin")
    srv.close()


def test_delay_is_a_timer_and_reset_resets():
    srv = counting_origin()
    with mitm(fault_config("1.0", ", delay_ms: 400")) as p:
        t0 = time.monotonic()
        status, body = plain_get(p, srv.port, b"/v1/slow")
        elapsed = time.monotonic() - t0
        check(status == 429 and body == RATE_LIMIT.encode(), (status, body))
        check(elapsed >= 0.35, "answered after %.3fs, before the 400 ms delay" % elapsed)
        # the reactor keeps serving others while a fault waits
        t0 = time.monotonic()
        status, _ = plain_get(p, srv.port, b"/fast")
        check(status == 200, status)
        p.wait_closed(2)
    reset_cfg = """
default_action: tunnel
rules:
  - { host: "localhost", path: "/v1/*", action: fault, fault: { reset: true } }
"""
    with mitm(reset_cfg) as p:
        s = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
        s.sendall(b"GET http://localhost:%d/v1/x HTTP/1.1\r\nHost: localhost\r\n\r\n" % srv.port)
        try:
            data = s.recv(100)
            check(False, "expected a reset, got %r" % data)
        except ConnectionResetError:
            pass
        s.close()
        evs = p.wait_closed(1)
        check(evs[-1]["reason"] == "fault", evs[-1])
    check(srv.hits == [1], "only /fast reached the origin: %s" % srv.hits)
    srv.close()


if __name__ == "__main__":
    run_tests([test_probability_one_always_answers_429_over_https,
               test_probability_zero_never_fires,
               test_half_probability_is_binomial_and_reproducible_over_plain_http,
               test_delay_is_a_timer_and_reset_resets])
