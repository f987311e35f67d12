"""CONNECT tunnels: curl through the proxy, TLS end to end, byte-exact bulk in
both directions, half-close, many concurrent tunnels, events."""
import hashlib
import os
import random
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from smlib import (DEADLINE, Proxy, Server, check, check_event_order, connect_via,
                   read_all, run_tests)


def http_handler(body):
    def h(c):
        req = b""
        while b"\r\n\r\n" not in req:
            b = c.recv(4096)
            if not b:
                return
            req += b
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    return h


def test_curl_get_through_tunnel():
    srv = Server(http_handler(b"hello through the tunnel\n"))
    with Proxy() as p:
        out = subprocess.run(["curl", "-sS", "-m", "20", "-p", "-x", p.url,
                              "http://127.0.0.1:%d/x" % srv.port],
                             capture_output=True, timeout=DEADLINE)
        check(out.returncode == 0, "curl failed: %s" % out.stderr)
        check(out.stdout == b"hello through the tunnel\n", "body: %r" % out.stdout)
        evs = p.wait_closed(1)
        flows = check_event_order(evs)
        check(len(flows) == 1, "one flow expected, got %d" % len(flows))
        types = [e["type"] for e in evs]
        check(types == ["flow_open", "proxy_request", "connect_decision", "upstream_connected",
                        "flow_closed"], "event types: %s" % types)
        req = evs[1]
        check(req["method"] == "CONNECT" and req["target"] == "127.0.0.1:%d" % srv.port, req)
        check(evs[2]["action"] == "tunnel" and evs[2]["rule"] == -1, evs[2])
        check(evs[3]["address"] == "127.0.0.1:%d" % srv.port, evs[3])
        closed = evs[4]
        check(closed["reason"] == "done", closed)
        check(closed["bytes_down"] > len(b"hello through the tunnel\n"), closed)
    srv.close()


def make_cert(d):
    key, crt = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=origin.test",
                    "-addext", "subjectAltName=DNS:origin.test,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=DEADLINE)
    return key, crt


def test_tls_server_certificate_seen_by_client():
    d = tempfile.mkdtemp()
    key, crt = make_cert(d)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)

    def h(c):
        with ctx.wrap_socket(c, server_side=True) as t:
            http_handler(b"tls ok\n")(t)
    srv = Server(h)
    with Proxy() as p:
        out = subprocess.run(["curl", "-sS", "-v", "-m", "20", "--cacert", crt, "-x", p.url,
                              "https://127.0.0.1:%d/" % srv.port],
                             capture_output=True, timeout=DEADLINE)
        check(out.returncode == 0, "curl failed: %s" % out.stderr[-2000:])
        check(out.stdout == b"tls ok\n", out.stdout)
        check(b"CN=origin.test" in out.stderr, "client did not see the origin's certificate")
        p.wait_closed(1)
    srv.close()


def test_bulk_64mib_each_direction_byte_exact():
    size = 64 << 20
    rng = random.Random(1234)
    up = rng.randbytes(size)
    down = random.Random(5678).randbytes(size)
    got = {}

    def h(c):
        def reader():
            hsh, n = hashlib.sha256(), 0
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                hsh.update(b)
                n += len(b)
            got["up"] = (n, hsh.hexdigest())
        t = threading.Thread(target=reader)
        t.start()
        c.sendall(down)
        c.shutdown(socket.SHUT_WR)
        t.join(DEADLINE * 2)
    srv = Server(h)
    with Proxy() as p:
        s, status, head = connect_via(p.port, "127.0.0.1:%d" % srv.port)
        check(status.startswith("HTTP/1.1 200"), status)
        s.settimeout(DEADLINE * 2)
        res = {}

        def down_reader():
            hsh, n = hashlib.sha256(), 0
            rest = head.split(b"\r\n\r\n", 1)[1]
            hsh.update(rest)
            n += len(rest)
            while True:
                b = s.recv(1 << 20)
                if not b:
                    break
                hsh.update(b)
                n += len(b)
            res["down"] = (n, hsh.hexdigest())
        t = threading.Thread(target=down_reader)
        t.start()
        s.sendall(up)
        s.shutdown(socket.SHUT_WR)
        t.join(DEADLINE * 2)
        s.close()
        check(res.get("down") == (size, hashlib.sha256(down).hexdigest()),
              "download mismatch: %s" % (res.get("down"),))
        evs = p.wait_closed(1)
        check(got.get("up") == (size, hashlib.sha256(up).hexdigest()),
              "upload mismatch: %s" % (got.get("up"),))
        closed = [e for e in evs if e["type"] == "flow_closed"][0]
        check(closed["reason"] == "done", closed)
        check(closed["bytes_down"] == size, closed)
    srv.close()


def test_half_close_propagates():
    def h(c):
        data = read_all(c)  # waits for the client's FIN through the tunnel
        c.sendall(b"got %d bytes" % len(data))
    srv = Server(h)
    with Proxy() as p:
        s, status, _ = connect_via(p.port, "127.0.0.1:%d" % srv.port)
        check(status.startswith("HTTP/1.1 200"), status)
        s.sendall(b"x" * 1000)
        s.shutdown(socket.SHUT_WR)
        reply = read_all(s)
        check(reply == b"got 1000 bytes", "reply after half-close: %r" % reply)
        s.close()
        evs = p.wait_closed(1)
        check([e for e in evs if e["type"] == "flow_closed"][0]["reason"] == "done", evs[-1])
    srv.close()


def test_early_bytes_after_connect_are_forwarded():
    def h(c):
        c.sendall(read_all(c))
    srv = Server(h)
    with Proxy() as p:
        s, status, head = connect_via(p.port, "127.0.0.1:%d" % srv.port, extra=b"early-bytes")
        check(status.startswith("HTTP/1.1 200"), status)
        s.shutdown(socket.SHUT_WR)
        echoed = head.split(b"\r\n\r\n", 1)[1] + read_all(s)
        check(echoed == b"early-bytes", "echo: %r" % echoed)
        p.wait_closed(1)
    srv.close()


def test_200_concurrent_tunnels():
    def h(c):
        c.sendall(read_all(c)[::-1])
    srv = Server(h)
    n = 200
    with Proxy() as p:
        socks = []
        for i in range(n):
            s, status, _ = connect_via(p.port, "127.0.0.1:%d" % srv.port)
            check(status.startswith("HTTP/1.1 200"), "tunnel %d: %s" % (i, status))
            socks.append(s)
        for i, s in enumerate(socks):
            s.sendall(b"tunnel-%03d" % i)
            s.shutdown(socket.SHUT_WR)
        for i, s in enumerate(socks):
            check(read_all(s) == (b"tunnel-%03d" % i)[::-1], "tunnel %d mixed up" % i)
            s.close()
        evs = p.wait_closed(n)
        flows = check_event_order(evs)
        check(len(flows) == n, "%d flows" % len(flows))
        check(all(e["reason"] == "done" for e in evs if e["type"] == "flow_closed"),
              "not all flows closed done")
        check(len({e["core"] for e in evs}) == 2, "both reactors should take flows")
    srv.close()


def test_idle_timeout_closes_quiet_tunnels_only():
    def h(c):
        while True:
            b = c.recv(100)
            if not b:
                return
            c.sendall(b)
    srv = Server(h)
    with Proxy(args=["--set", "timeouts.idle_timeout_ms=400"]) as p:
        quiet, status, _ = connect_via(p.port, "127.0.0.1:%d" % srv.port)
        check(status.startswith("HTTP/1.1 200"), status)
        busy, status, _ = connect_via(p.port, "127.0.0.1:%d" % srv.port)
        check(status.startswith("HTTP/1.1 200"), status)
        # the busy tunnel echoes a byte until the quiet one is closed for idleness
        closed = None
        for i in range(200):
            busy.sendall(b"x")
            check(busy.recv(10) == b"x", "busy tunnel stopped echoing at round %d" % i)
            evs = p.events()
            closed = [e for e in evs if e["type"] == "flow_closed"]
            if closed:
                break
            time.sleep(0.05)
        check(closed and closed[0]["reason"] == "idle_timeout", "quiet tunnel not closed: %s" % closed)
        check(read_all(quiet) == b"", "quiet tunnel's client sees the close")
        busy.sendall(b"y")
        check(busy.recv(10) == b"y", "busy tunnel must survive")
        busy.close()
        quiet.close()
        p.wait_closed(2)
    srv.close()


if __name__ == "__main__":
    run_tests([test_curl_get_through_tunnel, test_tls_server_certificate_seen_by_client,
               test_bulk_64mib_each_direction_byte_exact, test_half_close_propagates,
               test_early_bytes_after_connect_are_forwarded, test_200_concurrent_tunnels,
               test_idle_timeout_closes_quiet_tunnels_only])
