"""Heads that never come and upstreams that end early, with real clients:
a request head left unfinished gets 408 (timeouts.request_head_ms), an
upstream that never answers 504 (timeouts.upstream_response_ms), one that
closes or resets before answering 502, and an intercepted close-delimited
response whose origin ends TCP without close_notify reaches the client
whole, ended by our own close_notify (curl exits 0 at once)."""
import os
import socket
import subprocess
import threading

from smlib import DEADLINE, Proxy, Server, check, run_tests
from tlslab import Lab, tls_server

LAB = Lab()


def read_all(s):
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            return out
        out += b


def read_request(c):
    req = b""
    while b"\r\n\r\n" not in req:
        b = c.recv(4096)
        if not b:
            return None
        req += b
    return req


def closed_reason(p):
    evs = p.wait_closed(1)
    return [e["reason"] for e in evs if e["type"] == "flow_closed"][0]


def test_unfinished_request_head_is_a_408():
    with Proxy(args=["--set", "timeouts.request_head_ms=300"]) as p:
        s = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
        s.sendall(b"GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\nX-Slow: ")
        data = read_all(s)  # the head never ends: the proxy answers and closes
        check(data.startswith(b"HTTP/1.1 408 "), data[:200])
        s.close()
        check(closed_reason(p) == "request_timeout", "close reason")


def authority(host, port):
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def silent_upstream(host):
    release = threading.Event()

    def h(c):
        read_request(c)
        release.wait(DEADLINE)
    srv = Server(h, host)
    with Proxy(args=["--set", "timeouts.upstream_response_ms=300"]) as p:
        s = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
        hp = authority(host, srv.port).encode()
        s.sendall(b"GET http://%s/ HTTP/1.1\r\nHost: x\r\n\r\n" % hp)
        data = read_all(s)
        check(data.startswith(b"HTTP/1.1 504 ") and hp + b" sent no response head" in data,
              data[:300])
        s.close()
        check(closed_reason(p) == "upstream_timeout", "close reason")
    release.set()
    srv.close()


def test_silent_upstream_is_a_504():
    silent_upstream("127.0.0.1")


def upstream_ends(reset, host="127.0.0.1"):
    def h(c):
        read_request(c)
        if reset:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    srv = Server(h, host)
    with Proxy() as p:
        s = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
        hp = authority(host, srv.port).encode()
        s.sendall(b"GET http://%s/ HTTP/1.1\r\nHost: x\r\n\r\n" % hp)
        data = read_all(s)
        what = hp + (b" reset the connection" if reset else b" closed the connection")
        check(data.startswith(b"HTTP/1.1 502 ") and what in data, data[:300])
        s.close()
        check(closed_reason(p) == ("upstream_reset" if reset else "upstream_closed"),
              "close reason")
    srv.close()


def test_upstream_closing_before_answering_is_a_502():
    upstream_ends(False)


def test_upstream_resetting_before_answering_is_a_502():
    upstream_ends(True)


def test_an_ipv6_upstream_is_named_in_brackets():
    """The 502 and 504 pages name an IPv6 upstream as [::1]:port."""
    upstream_ends(False, "::1")
    silent_upstream("::1")


def test_close_delimited_response_over_tls_ends_for_the_client():
    crt, key = LAB.leaf("closedelim")

    def h(t):
        read_request(t)
        # no Content-Length, no chunking: the body ends with the connection,
        # and the connection ends without close_notify
        t.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 5000)
    srv = tls_server(crt, key, handler=h, alpn=["http/1.1"])
    cadir = os.path.join(LAB.dir, "proxy-ca")
    with Proxy(args=["--set", "default_action=intercept", "--ca-dir", cadir, "--upstream-ca",
                     LAB.ca, "--set", "tls.system_ca="]) as p:
        out = subprocess.run(["curl", "-sS", "-m", "20", "--http1.1", "--cacert",
                              os.path.join(cadir, "ca.pem"), "-x", "http://127.0.0.1:%d" % p.port,
                              "https://localhost:%d/" % srv.port],
                             capture_output=True, timeout=DEADLINE)
        check(out.returncode == 0, "curl: %s" % out.stderr)
        check(out.stdout == b"x" * 5000, "%d bytes" % len(out.stdout))
        check(closed_reason(p) == "upstream_no_close_notify", "close reason")
    srv.close()


if __name__ == "__main__":
    run_tests([test_unfinished_request_head_is_a_408, test_silent_upstream_is_a_504,
               test_upstream_closing_before_answering_is_a_502,
               test_upstream_resetting_before_answering_is_a_502,
               test_an_ipv6_upstream_is_named_in_brackets,
               test_close_delimited_response_over_tls_ends_for_the_client])
