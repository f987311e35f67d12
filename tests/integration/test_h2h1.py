"""HTTP/2 client to HTTP/1.1 origin through the intercepting proxy: a
python3-h2 client offering only "h2" (CONNECT + our CA) against a TLS
origin that speaks only HTTP/1.1. The proxy offers the client h2 and
translates every stream into an HTTP/1.1 request on one upstream
connection: bodies byte-exact both ways, chunked and content-length
framing, trailers both ways, several concurrent streams, SSE and gRPC
observed, Connection: close refusing the waiting streams.

nghttp (nghttp2-client) is not used: it has no option to go through a
CONNECT proxy."""
import hashlib
import os
import socket
import ssl
import threading

import grpc
import h2.config
import h2.connection
import h2.events

from smlib import (ADMIN, DEADLINE, Proxy, admin_port, check, check_event_order, connect_via, parse,
                   run_tests, scrape, total)
from tlslab import Lab, tls_server

LAB = Lab()


def pattern(n, seed):
    return bytes((i * 31 + seed) & 0xff for i in range(n))


BIG = pattern(300000, 7)


class Origin:
    """HTTP/1.1-only TLS origin (ALPN http/1.1): one request at a time per
    connection, keep-alive; records every request it read."""

    def __init__(self):
        crt, key = LAB.leaf("h1only")
        self.requests = []
        self.conns = 0
        self.lock = threading.Lock()
        self.srv = tls_server(crt, key, handler=self.handle, alpn=["http/1.1"])
        self.port = self.srv.port

    def handle(self, c):
        with self.lock:
            self.conns += 1
        buf = b""

        def need(n):
            nonlocal buf
            while len(buf) < n:
                b = c.recv(65536)
                if not b:
                    raise EOFError
                buf += b

        def line():
            nonlocal buf
            while b"\r\n" not in buf:
                b = c.recv(65536)
                if not b:
                    raise EOFError
                buf += b
            ln, buf = buf.split(b"\r\n", 1)
            return ln

        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    b = c.recv(65536)
                    if not b:
                        return
                    buf += b
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.split(b"\r\n")
                hdr = {}
                for ln in lines[1:]:
                    k, v = ln.split(b":", 1)
                    hdr[k.strip().lower()] = v.strip()
                body, trailers = b"", b""
                if hdr.get(b"transfer-encoding") == b"chunked":
                    while True:
                        size = int(line().split(b";")[0], 16)
                        if size == 0:
                            break
                        need(size + 2)
                        body, buf = body + buf[:size], buf[size + 2:]
                    while True:
                        ln = line()
                        if not ln:
                            break
                        trailers += ln + b"\n"
                else:
                    n = int(hdr.get(b"content-length", b"0"))
                    need(n)
                    body, buf = buf[:n], buf[n:]
                path = lines[0].split(b" ")[1]
                with self.lock:
                    self.requests.append((head, body, trailers))
                if not self.answer(c, path, body, trailers):
                    return
        except (EOFError, OSError, ssl.SSLError):
            return

    def answer(self, c, path, body, trailers):
        if path == b"/big":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BIG) + BIG)
        elif path == b"/chunked":
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n"
                      b"Connection: keep-alive\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n"
                      b"0\r\nX-Sum: 42\r\n\r\n")
        elif path == b"/sse":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            for ev in (b"data: one\n\n", b"event: tick\ndata: two\n\n"):
                c.sendall(b"%x\r\n%s\r\n" % (len(ev), ev))
            c.sendall(b"0\r\n\r\n")
        elif path.startswith(b"/soth.test.Echo/"):
            msg = b"echo:" + body[5:]
            env = b"\0" + len(msg).to_bytes(4, "big") + msg
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/grpc\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n"
                      b"0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n" % (len(env), env))
        elif path == b"/close":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nclosed")
            return False
        else:
            out = b"h1:%s body=%d sha=%s trailers=%s" % (
                path, len(body), hashlib.sha256(body).hexdigest()[:16].encode(),
                trailers.replace(b"\n", b"|"))
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Origin: h1\r\n\r\n"
                      % len(out) + out)
        return True

    def close(self):
        self.srv.close()


def proxy():
    cadir = os.path.join(LAB.dir, "ca")
    p = Proxy(args=["--set", "default_action=intercept", "--ca-dir", cadir, "--upstream-ca", LAB.ca,
                    "--set", "tls.system_ca=", "--set", "observe.sse=true",
                    "--set", "observe.grpc=true"] + ADMIN, threads=1)
    p.ca = os.path.join(cadir, "ca.pem")
    return p


class Client:
    """python3-h2 client offering only h2, through CONNECT."""

    def __init__(self, p, port):
        s, status, _ = connect_via(p.port, "localhost:%d" % port)
        check(" 200 " in status + " ", status)
        ctx = ssl.create_default_context(cafile=p.ca)
        ctx.set_alpn_protocols(["h2"])
        self.t = ctx.wrap_socket(s, server_hostname="localhost")
        check(self.t.selected_alpn_protocol() == "h2", self.t.selected_alpn_protocol())
        self.c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                       header_encoding=None))
        self.c.initiate_connection()
        self.t.sendall(self.c.data_to_send())
        self.st = {}
        self.uploads = {}
        self.goaway = None

    def request(self, method, path, body=None, headers=(), trailers=None, cl=False, send=True):
        sid = self.c.get_next_available_stream_id()
        hdr = [(b":method", method), (b":scheme", b"https"), (b":authority", b"localhost"),
               (b":path", path)] + list(headers)
        if cl and body is not None:
            hdr.append((b"content-length", b"%d" % len(body)))
        end = body is None and trailers is None
        self.c.send_headers(sid, hdr, end_stream=end)
        self.st[sid] = {"headers": [], "data": b"", "trailers": None, "ended": False,
                        "reset": None}
        if not end:
            self.uploads[sid] = [body or b"", trailers]
        if send:
            self.flush()
        return sid

    def flush(self):
        for sid in list(self.uploads):
            data, trailers = self.uploads[sid]
            while data:
                n = min(len(data), self.c.local_flow_control_window(sid),
                        self.c.max_outbound_frame_size)
                if n <= 0:
                    break
                self.c.send_data(sid, data[:n])
                data = data[n:]
            self.uploads[sid][0] = data
            if not data:
                if trailers:
                    self.c.send_headers(sid, trailers, end_stream=True)
                else:
                    self.c.end_stream(sid)
                del self.uploads[sid]
        self.t.sendall(self.c.data_to_send())

    def run(self):
        self.t.settimeout(DEADLINE)
        while not all(s["ended"] or s["reset"] is not None for s in self.st.values()):
            data = self.t.recv(65536)
            if not data:
                break
            for ev in self.c.receive_data(data):
                sid = getattr(ev, "stream_id", 0)
                if isinstance(ev, h2.events.ResponseReceived) or \
                        isinstance(ev, h2.events.InformationalResponseReceived):
                    self.st[sid]["headers"].append(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    self.st[sid]["data"] += ev.data
                    self.c.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.TrailersReceived):
                    self.st[sid]["trailers"] = ev.headers
                elif isinstance(ev, h2.events.StreamEnded):
                    self.st[sid]["ended"] = True
                elif isinstance(ev, h2.events.StreamReset):
                    self.st[sid]["reset"] = ev.error_code
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self.goaway = ev
            self.flush()

    def close(self):
        self.c.close_connection()
        self.t.sendall(self.c.data_to_send())
        self.t.close()


def status(s):
    return dict(s["headers"][-1])[b":status"]


def test_h2_only_client_to_http11_origin():
    origin = Origin()
    with proxy() as p:
        cl = Client(p, origin.port)
        up = pattern(200000, 3)
        small = b"posted with a length"
        ids = {
            "get": cl.request(b"GET", b"/index?q=1", headers=[(b"cookie", b"a=1"),
                                                             (b"cookie", b"b=2")]),
            "post_cl": cl.request(b"POST", b"/cl", body=small, cl=True),
            "post_big": cl.request(b"POST", b"/up", body=up),
            "trailers": cl.request(b"POST", b"/tr", body=b"abc",
                                   trailers=[(b"x-checksum", b"123")]),
            "big": cl.request(b"GET", b"/big"),
            "chunked": cl.request(b"GET", b"/chunked"),
            "sse": cl.request(b"GET", b"/sse"),
        }
        cl.run()
        st = {k: cl.st[v] for k, v in ids.items()}
        for k, s in st.items():
            check(s["ended"] and s["reset"] is None and status(s) == b"200", (k, s))
        check(st["get"]["data"].startswith(b"h1:/index?q=1 body=0 "), st["get"]["data"])
        check(dict(st["get"]["headers"][-1]).get(b"x-origin") == b"h1", st["get"]["headers"])
        sha = hashlib.sha256(up).hexdigest()[:16].encode()
        check(st["post_big"]["data"] == b"h1:/up body=200000 sha=%s trailers=" % sha,
              st["post_big"]["data"])
        check(st["post_cl"]["data"].startswith(b"h1:/cl body=%d " % len(small)), st["post_cl"])
        check(st["trailers"]["data"].endswith(b"trailers=x-checksum: 123|"), st["trailers"])
        check(st["big"]["data"] == BIG, "300 kB body differs")
        check(st["chunked"]["data"] == b"hello, world", st["chunked"]["data"])
        check(st["chunked"]["trailers"] == [(b"x-sum", b"42")], st["chunked"]["trailers"])
        hdr = dict(st["chunked"]["headers"][-1])
        check(b"connection" not in hdr and b"transfer-encoding" not in hdr, hdr)
        check(st["sse"]["data"] == b"data: one\n\nevent: tick\ndata: two\n\n", st["sse"]["data"])
        cl.close()
        evs = p.wait_closed(1)
        check_event_order(evs)
        ok = {(e["side"], e["alpn"]) for e in evs if e["type"] == "tls_handshake_succeeded"}
        check(ok == {("client", "h2"), ("server", "http/1.1")}, ok)
        m = parse(scrape(admin_port(p)))
        check(total(m, "soth_h2_translated_h2_to_h1_total") == 1 and
              total(m, "soth_h2_translated_h1_to_h2_total") == 0, m)
        reqs = sorted((e["stream"], e["method"], e["target"]) for e in evs
                      if e["type"] == "proxy_request" and e["method"] != "CONNECT")
        check(reqs == sorted((ids[k], m, t) for k, m, t in [
            ("get", "GET", "/index?q=1"), ("post_cl", "POST", "/cl"), ("post_big", "POST", "/up"),
            ("trailers", "POST", "/tr"), ("big", "GET", "/big"), ("chunked", "GET", "/chunked"),
            ("sse", "GET", "/sse")]), reqs)
        resp = sorted((e["stream"], e["status"]) for e in evs if e["type"] == "http_response")
        check(resp == sorted((v, 200) for v in ids.values()), resp)
        sse = [e["excerpt"] for e in evs if e["type"] == "sse_event"]
        check(sse == ["one", "two"], sse)
        check(all(e["reason"] == "done" for e in evs if e["type"] == "flow_closed"), evs[-1])
    check(origin.conns == 1, "one upstream connection, got %d" % origin.conns)
    heads = [r[0] for r in origin.requests]
    check(heads[0] == b"GET /index?q=1 HTTP/1.1\r\nhost: localhost\r\ncookie: a=1; b=2", heads[0])
    check(b"content-length: %d" % len(small) in heads[1], heads[1])
    check(b"transfer-encoding: chunked" in heads[3] and origin.requests[3][2] ==
          b"x-checksum: 123\n", origin.requests[3])
    origin.close()


def test_grpc_client_to_http11_origin():
    origin = Origin()
    with proxy() as p:
        with open(p.ca, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        ch = grpc.secure_channel("localhost:%d" % origin.port, creds,
                                 options=[("grpc.http_proxy", "http://127.0.0.1:%d" % p.port),
                                          ("grpc.enable_http_proxy", 1)])
        u = ch.unary_unary("/soth.test.Echo/Unary")
        for i in range(3):
            check(u(b"m%d" % i, timeout=DEADLINE) == b"echo:m%d" % i, "call %d" % i)
        ch.close()
        evs = p.wait_events(lambda evs: sum(e["type"] == "grpc_status" for e in evs) >= 3,
                            "3 grpc_status events")
        st = [(e["grpc_status"], e["grpc_message"]) for e in evs if e["type"] == "grpc_status"]
        check(st == [(0, "ok")] * 3, st)
        msgs = [(e["dir"], e["excerpt"]) for e in evs if e["type"] == "grpc_message"]
        check(("client_to_server", "m2") in msgs and ("server_to_client", "echo:m2") in msgs,
              msgs)
    origin.close()


def test_connection_close_refuses_waiting_streams():
    origin = Origin()
    with proxy() as p:
        cl = Client(p, origin.port)
        # one write, so all three wait before the upstream answers (a stream
        # arriving after the GOAWAY would be ignored as unprocessed instead)
        a = cl.request(b"GET", b"/close", send=False)
        b = cl.request(b"GET", b"/after", send=False)
        c = cl.request(b"GET", b"/after2")
        cl.run()
        check(cl.st[a]["ended"] and cl.st[a]["data"] == b"closed", cl.st[a])
        for sid in (b, c):
            check(cl.st[sid]["reset"] == 7, cl.st[sid])  # REFUSED_STREAM: retry elsewhere
        check(cl.goaway is not None and cl.goaway.last_stream_id == a, cl.goaway)
        cl.t.close()
        evs = p.wait_closed(1)
        check([e["target"] for e in evs if e["type"] == "proxy_request"][1:] ==
              ["/close", "/after", "/after2"], evs)
    check(len(origin.requests) == 1, origin.requests)
    origin.close()


if __name__ == "__main__":
    run_tests([test_h2_only_client_to_http11_origin, test_grpc_client_to_http11_origin,
               test_connection_close_refuses_waiting_streams])
