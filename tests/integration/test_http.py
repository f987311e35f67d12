"""Absolute-form HTTP through the proxy: curl GET/POST (Content-Length and
chunked, streamed), keep-alive and pipelining in order, hop-by-hop and
Proxy-* removal, smuggling rejected, per-request upstreams."""
import hashlib
import json
import os
import random
import socket
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from smlib import (DEADLINE, FakeDNS, Proxy, Server, check, check_event_order, http_response,
                   run_tests)


class Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections = 0

    def log_message(self, *a):
        pass

    def setup(self):
        type(self).connections += 1
        super().setup()

    def _send(self, status, body, ctype="application/octet-stream"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/headers"):
            hdrs = [[k, v] for k, v in self.headers.items()]
            self._send(200, json.dumps({"path": self.path, "headers": hdrs}).encode(),
                       "application/json")
        elif self.path.startswith("/big"):
            n = int(self.path.split("=")[1])
            self._send(200, random.Random(n).randbytes(n))
        else:
            self._send(200, b"origin says hi: " + self.path.encode())

    do_HEAD = do_GET

    def do_POST(self):
        h, n = hashlib.sha256(), 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                data = self.rfile.read(size)
                h.update(data)
                n += len(data)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                data = self.rfile.read(min(left, 1 << 16))
                h.update(data)
                n += len(data)
                left -= len(data)
        self._send(200, ("%d %s" % (n, h.hexdigest())).encode())


def origin():
    class H(Origin):
        connections = 0
    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, H


def curl(p, *args):
    out = subprocess.run(["curl", "-sS", "-m", "30", "-x", p.url] + list(args),
                         capture_output=True, timeout=DEADLINE * 2)
    check(out.returncode == 0, "curl %s failed: %s" % (args, out.stderr))
    return out.stdout


def test_curl_get_and_events():
    srv, H = origin()
    port = srv.server_address[1]
    with Proxy() as p:
        body = curl(p, "http://127.0.0.1:%d/hello?x=1" % port)
        check(body == b"origin says hi: /hello?x=1", body)
        big = curl(p, "http://127.0.0.1:%d/big=3000000" % port)
        check(big == random.Random(3000000).randbytes(3000000), "3 MB body differs")
        evs = p.wait_closed(2)
        check_event_order(evs)
        reqs = [e for e in evs if e["type"] == "proxy_request"]
        check([r["method"] for r in reqs] == ["GET", "GET"], reqs)
        check(reqs[0]["target"] == "http://127.0.0.1:%d/hello?x=1" % port, reqs[0])
        resp = [e for e in evs if e["type"] == "http_response"]
        check([r["status"] for r in resp] == [200, 200], resp)
    srv.shutdown()


def test_curl_post_content_length_and_chunked_streamed():
    srv, H = origin()
    port = srv.server_address[1]
    d = tempfile.mkdtemp()
    path = os.path.join(d, "up.bin")
    data = random.Random(7).randbytes(8 << 20)
    with open(path, "wb") as f:
        f.write(data)
    want = ("%d %s" % (len(data), hashlib.sha256(data).hexdigest())).encode()
    with Proxy() as p:
        got = curl(p, "--data-binary", "@" + path, "http://127.0.0.1:%d/up" % port)
        check(got == want, "content-length upload: %r" % got)
        got = curl(p, "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + path,
                   "http://127.0.0.1:%d/up" % port)
        check(got == want, "chunked upload: %r" % got)
        p.wait_closed(2)
    srv.shutdown()


def raw(p, data):
    s = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
    s.sendall(data)
    return s


def test_pipelined_requests_answered_in_order_on_one_upstream():
    srv, H = origin()
    port = srv.server_address[1]
    with Proxy() as p:
        reqs = b"".join(b"GET http://127.0.0.1:%d/r%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" %
                        (port, i, port) for i in range(5))
        s = raw(p, reqs)
        for i in range(5):
            status, _, body = http_response(s)
            check(status == 200 and body == b"origin says hi: /r%d" % i, (i, status, body))
        s.close()
        evs = p.wait_closed(1)
        check(H.connections == 1, "pipelined requests used %d upstream connections" % H.connections)
        idx = [e["request_index"] for e in evs if e["type"] == "http_response"]
        check(idx == [1, 2, 3, 4, 5], "each response names the request it answers: %s" % idx)
    srv.shutdown()


def test_hop_by_hop_and_proxy_headers_removed():
    srv, H = origin()
    port = srv.server_address[1]
    with Proxy() as p:
        s = raw(p, b"GET http://127.0.0.1:%d/headers HTTP/1.1\r\nHost: wrong.example\r\n"
                   b"Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic eDp5\r\n"
                   b"Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\n"
                   b"TE: trailers\r\nX-Kept: yes\r\n\r\n" % port)
        status, headers, body = http_response(s)
        s.close()
        check(status == 200, status)
        got = {k.lower(): v for k, v in json.loads(body)["headers"]}
        for gone in ("proxy-connection", "proxy-authorization", "x-secret", "keep-alive", "te"):
            check(gone not in got, "%s reached the origin: %s" % (gone, got))
        check(got.get("x-kept") == "yes", got)
        check(got.get("host") == "127.0.0.1:%d" % port, "Host must follow the URL: %s" % got)
        p.wait_closed(1)
    srv.shutdown()


def test_smuggling_attempts_rejected_before_upstream():
    srv, H = origin()
    port = srv.server_address[1]
    cases = [
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        b"Content-Length: 4\r\nContent-Length: 5\r\n",
        b"Transfer-Encoding: gzip\r\n",
        b"X-Fold: a\r\n  b\r\n",
        b"X-Bad: a\rb\r\n",
    ]
    with Proxy() as p:
        for c in cases:
            s = raw(p, b"POST http://127.0.0.1:%d/up HTTP/1.1\r\nHost: x\r\n" % port + c +
                    b"\r\nabcd")
            status, _, body = http_response(s)
            s.close()
            check(status in (400, 501), "%r -> %d" % (c, status))
        p.wait_closed(len(cases))
        check(H.connections == 0, "a smuggling attempt reached the origin")
    srv.shutdown()


def test_framing_fields_in_trailers_refused():
    """RFC 9110 §6.5.1: a chunked request whose trailers carry Content-Length,
    Transfer-Encoding or Host is refused with 400; the origin, which might merge
    trailers into the head, never gets a complete message or a field line."""
    got = []
    done = threading.Event()

    def h(c):
        data = b""
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
        got.append(data)
        done.set()
    srv = Server(h)
    with Proxy() as p:
        for field in (b"Content-Length: 5", b"Transfer-Encoding: chunked", b"Host: evil.test"):
            done.clear()
            s = raw(p, b"POST http://127.0.0.1:%d/up HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n%s\r\n\r\n"
                       b"GET /smuggled HTTP/1.1\r\n\r\n" % (srv.port, srv.port, field))
            status, _, body = http_response(s)
            s.close()
            check(status == 400 and b"trailer_forbidden" in body, (field, status, body))
            check(done.wait(DEADLINE), "the upstream connection was not closed")
            # the head and body may have gone out before the trailers came
            seen = got[-1]
            check(seen == b"" or seen.startswith(b"POST /up HTTP/1.1\r\n"), seen)
            tail = seen.split(b"\r\n0\r\n", 1)[1] if b"\r\n0\r\n" in seen else b""
            check(b":" not in tail and b"smuggled" not in seen, (field, seen))
        evs = p.wait_closed(3)
        closed = [e["reason"] for e in evs if e["type"] == "flow_closed"]
        check(closed == ["bad_request"] * 3, closed)
    srv.close()


def test_requests_to_different_hosts_on_one_connection():
    srv, H = origin()
    port = srv.server_address[1]
    dns = FakeDNS({"one.test": ["127.0.0.1"], "two.test": ["127.0.0.1"]})
    cfg = 'dns_servers: "%s"\nrules:\n  - { host: "blocked.test", action: block }\n' % dns.server
    with Proxy(cfg) as p:
        s = raw(p, b"GET http://one.test:%d/a HTTP/1.1\r\nHost: one.test\r\n\r\n" % port)
        status, _, body = http_response(s)
        check(status == 200 and body.endswith(b"/a"), body)
        s.sendall(b"GET http://two.test:%d/b HTTP/1.1\r\nHost: two.test\r\n\r\n" % port)
        status, _, body = http_response(s)
        check(status == 200 and body.endswith(b"/b"), body)
        s.sendall(b"GET http://blocked.test:%d/c HTTP/1.1\r\nHost: blocked.test\r\n\r\n" % port)
        status, _, body = http_response(s)
        check(status == 403 and b"blocked.test" in body, (status, body))
        s.close()
        evs = p.wait_closed(1)
        dec = [(e["host"], e["action"]) for e in evs if e["type"] == "connect_decision"]
        check(dec == [("one.test", "tunnel"), ("two.test", "tunnel"), ("blocked.test", "block")], dec)
        check(H.connections == 2, "expected one upstream per host, got %d" % H.connections)
    srv.shutdown()
    dns.close()


def test_upload_to_a_stalled_upstream_survives_backpressure():
    """The origin stops reading until the client can no longer write: every
    buffer on the path is full. Then it reads; nothing may be lost."""
    import select
    release = threading.Event()
    got = {}

    def h(c):
        head = b""
        while b"\r\n\r\n" not in head:
            head += c.recv(1)
        n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0]
                .split(b":")[1])
        release.wait(DEADLINE)
        hsh, left = hashlib.sha256(), n
        while left:
            b = c.recv(min(left, 1 << 16))
            if not b:
                break
            hsh.update(b)
            left -= len(b)
        got["sha"] = hsh.hexdigest()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    from smlib import Server
    srv = Server(h)
    body = random.Random(11).randbytes(32 << 20)
    with Proxy() as p:
        s = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
        s.sendall(b"POST http://127.0.0.1:%d/up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                  % (srv.port, len(body)))
        s.setblocking(False)
        off = 0
        stalled = False
        while off < len(body):
            _, w, _ = select.select([], [s], [], 0.5)
            if not w:
                stalled = True  # nothing moves: the proxy holds back
                release.set()
                continue
            try:
                off += s.send(body[off:off + (1 << 16)])
            except BlockingIOError:
                pass
        release.set()
        s.setblocking(True)
        status, _, rbody = http_response(s)
        s.close()
        check(stalled, "the test never saw backpressure (body too small for the buffers?)")
        check(status == 200 and rbody == b"ok", (status, rbody))
        check(got.get("sha") == hashlib.sha256(body).hexdigest(), "the origin got different bytes")
        evs = p.wait_closed(1)
        check(evs[-1]["reason"] == "done", evs[-1])
    srv.close()


if __name__ == "__main__":
    run_tests([test_curl_get_and_events, test_curl_post_content_length_and_chunked_streamed,
               test_pipelined_requests_answered_in_order_on_one_upstream,
               test_hop_by_hop_and_proxy_headers_removed,
               test_smuggling_attempts_rejected_before_upstream,
               test_framing_fields_in_trailers_refused,
               test_requests_to_different_hosts_on_one_connection,
               test_upload_to_a_stalled_upstream_survives_backpressure])
