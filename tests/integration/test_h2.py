"""HTTP/2 interception end to end: curl --http2 through the proxy to an h2
origin (python3-h2); both sides negotiate h2, streams are relayed 1:1 and
reported with their stream id; many streams on one connection byte-exact."""
import os
import queue
import ssl
import subprocess
import time

import h2.config
import h2.connection
import h2.events

from smlib import (ADMIN, DEADLINE, Proxy, admin_port, check, check_event_order, connect_via,
                   parse, run_tests, scrape, total)
from tlslab import Lab
from h2origin import h2_server
from smlib import Server

LAB = Lab()


def proxy(extra=()):
    cadir = os.path.join(LAB.dir, "ca")
    p = Proxy(args=["--set", "default_action=intercept", "--ca-dir", cadir, "--upstream-ca", LAB.ca,
                    "--set", "tls.system_ca="] + list(extra), threads=1)
    p.ca = os.path.join(cadir, "ca.pem")
    return p


def test_curl_http2_through_the_proxy():
    crt, key = LAB.leaf("h2o")
    srv = h2_server(crt, key)
    with proxy() as p:
        url = "https://localhost:%d" % srv.port
        out = subprocess.run(["curl", "-sS", "-m", "20", "--http2", "--cacert", p.ca, "-x", p.url,
                              "-w", "%{http_version}\n", url + "/one", url + "/two"],
                             capture_output=True, timeout=DEADLINE)
        check(out.returncode == 0, out.stderr)
        check(out.stdout == b"h2:/one body=0\n2\nh2:/two body=0\n2\n", out.stdout)
        body = os.path.join(LAB.dir, "body.bin")
        with open(body, "wb") as f:
            f.write(b"x" * 200000)
        post = subprocess.run(["curl", "-sS", "-m", "20", "--http2", "--cacert", p.ca, "-x", p.url,
                               "--data-binary", "@" + body, url + "/up"],
                              capture_output=True, timeout=DEADLINE)
        check(post.stdout == b"h2:/up body=200000\n", post)
        evs = p.wait_closed(2)
        check_event_order(evs)
        ok = [e for e in evs if e["type"] == "tls_handshake_succeeded"]
        check(all(e["alpn"] == "h2" for e in ok) and len(ok) == 4, ok)
        reqs = [(e["method"], e["target"], e["stream"]) for e in evs
                if e["type"] == "proxy_request" and e["method"] != "CONNECT"]
        check(reqs == [("GET", "/one", 1), ("GET", "/two", 3), ("POST", "/up", 1)], reqs)
        resp = [(e["status"], e["stream"], e["method"], e["request_index"]) for e in evs
                if e["type"] == "http_response"]
        check(resp == [(200, 1, "GET", 1), (200, 3, "GET", 2), (200, 1, "POST", 1)], resp)
        ct = [e["content_type"] for e in evs if e["type"] == "payload" and e["dir"] == "server_to_client"]
        check(ct and all(c == "text/plain" for c in ct), ct)
        check(all(e["reason"] == "done" for e in evs if e["type"] == "flow_closed"), evs[-1])
    srv.close()


def test_many_streams_on_one_connection():
    crt, key = LAB.leaf("h2m")
    srv = h2_server(crt, key)
    n = 100
    with proxy() as p:
        url = "https://localhost:%d" % srv.port
        args = ["curl", "-sS", "-m", "30", "--http2", "--parallel", "--parallel-max", str(n),
                "--cacert", p.ca, "-x", p.url]
        for i in range(n):
            args += [url + "/s%d" % i, "-o", os.path.join(LAB.dir, "out%d" % i)]
        out = subprocess.run(args, capture_output=True, timeout=DEADLINE * 2)
        check(out.returncode == 0, out.stderr)
        for i in range(n):
            with open(os.path.join(LAB.dir, "out%d" % i), "rb") as f:
                check(f.read() == b"h2:/s%d body=0\n" % i, "stream %d" % i)
        evs = p.wait_events(lambda evs: sum(e["type"] == "http_response" for e in evs) >= n,
                            "%d responses" % n)
        check(sum(e["type"] == "http_response" for e in evs) == n, "responses")
        tunnels = [e for e in evs if e["type"] == "proxy_request" and e["method"] == "CONNECT"]
        streams = {e["stream"] for e in evs if e["type"] == "http_response"}
        check(len(tunnels) == 1 and len(streams) == n,
              "%d streams must share one connection: %d CONNECTs, %d stream ids" %
              (n, len(tunnels), len(streams)))
    srv.close()


class H2Client:
    """A python3-h2 client on an intercepted connection (ALPN h2 only)."""

    def __init__(self, p, port):
        s, status, _ = connect_via(p.port, "localhost:%d" % port)
        check(" 200 " in status, status)
        ctx = ssl.create_default_context(cafile=p.ca)
        ctx.set_alpn_protocols(["h2"])
        self.t = ctx.wrap_socket(s, server_hostname="localhost")
        check(self.t.selected_alpn_protocol() == "h2", self.t.selected_alpn_protocol())
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.flush()

    def flush(self):
        self.t.sendall(self.conn.data_to_send())

    def events(self, pred):
        """Reads until pred(events so far) holds; returns the events."""
        evs = []
        while not pred(evs):
            data = self.t.recv(65536)
            check(data, "connection closed while waiting")
            evs += self.conn.receive_data(data)
            self.flush()
        return evs


def wait_metric(port, name, want):
    """Scrapes until the series sum equals want (the gauge moves as frames
    are relayed, not at any fixed time)."""
    end = time.monotonic() + DEADLINE
    while True:
        got = total(parse(scrape(port)), name)
        if got == want or time.monotonic() > end:
            check(got == want, "%s = %s, expected %s" % (name, got, want))
            return
        time.sleep(0.02)


def test_open_streams_gauge_returns_to_zero():
    crt, key = LAB.leaf("h2g")
    srv = h2_server(crt, key)
    with proxy(ADMIN) as p:
        port = admin_port(p)
        c = H2Client(p, srv.port)
        hdrs = [(":method", "POST"), (":scheme", "https"), (":authority", "localhost:%d" % srv.port)]
        for sid in (1, 3, 5):  # bodies left open: the origin answers at END_STREAM
            c.conn.send_headers(sid, hdrs + [(":path", "/g%d" % sid)])
            c.conn.send_data(sid, b"abc")
        c.flush()
        wait_metric(port, "soth_h2_streams_open", 3)
        wait_metric(port, "soth_h2_connections_open", 1)
        c.conn.reset_stream(5)  # a reset stream leaves nothing behind either
        c.conn.end_stream(1)
        c.conn.end_stream(3)
        c.flush()
        evs = c.events(lambda evs: sum(isinstance(e, h2.events.StreamEnded) for e in evs) == 2)
        bodies = {e.stream_id: e.data for e in evs if isinstance(e, h2.events.DataReceived)}
        check(bodies == {1: b"h2:/g1 body=3\n", 3: b"h2:/g3 body=3\n"}, bodies)
        wait_metric(port, "soth_h2_streams_open", 0)
        m = parse(scrape(port))
        check(total(m, "soth_h2_connections_open") == 1, "the connection is still open")
        check(total(m, "soth_h2_streams_total") == 3, total(m, "soth_h2_streams_total"))
        c.t.close()
        wait_metric(port, "soth_h2_connections_open", 0)
        check(total(parse(scrape(port)), "soth_h2_connections_total") == 1, "connections")
    srv.close()


def streaming_origin(crt, key, steps, seen):
    """An h2 origin answering one stream with an SSE response it writes one
    event per item taken from `steps` (None ends the body), then trailers.
    `seen` gets the request's headers, body and trailers."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    ctx.set_alpn_protocols(["h2"])

    def handle(c):
        t = ctx.wrap_socket(c, server_side=True)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        t.sendall(conn.data_to_send())
        body = b""
        while True:
            data = t.recv(65536)
            if not data:
                return
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    seen["headers"] = [(bytes(k), bytes(v)) for k, v in ev.headers]
                elif isinstance(ev, h2.events.DataReceived):
                    body += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.TrailersReceived):
                    seen["trailers"] = [(bytes(k), bytes(v)) for k, v in ev.headers]
                elif isinstance(ev, h2.events.StreamEnded):
                    seen["body"] = body
                    sid = ev.stream_id
                    conn.send_headers(sid, [(":status", "200"),
                                            ("content-type", "text/event-stream")])
                    t.sendall(conn.data_to_send())
                    while True:
                        item = steps.get(timeout=DEADLINE)
                        if item is None:
                            break
                        conn.send_data(sid, item)
                        t.sendall(conn.data_to_send())
                    conn.send_headers(sid, [("x-events", "3")], end_stream=True)
            t.sendall(conn.data_to_send())
    return Server(handle)


def test_streaming_response_and_trailers_both_ways():
    """Each SSE event crosses the proxy (and is reported) before the origin
    writes the next; request trailers reach the origin, response trailers the
    client."""
    crt, key = LAB.leaf("h2s")
    steps, seen = queue.Queue(), {}
    srv = streaming_origin(crt, key, steps, seen)
    with proxy() as p:
        c = H2Client(p, srv.port)
        c.conn.send_headers(1, [(":method", "POST"), (":scheme", "https"),
                                (":authority", "localhost:%d" % srv.port), (":path", "/stream"),
                                ("te", "trailers")])
        c.conn.send_data(1, b"question")
        c.conn.send_headers(1, [("x-request-sum", "8")], end_stream=True)
        c.flush()
        c.events(lambda evs: any(isinstance(e, h2.events.ResponseReceived) for e in evs))
        for i in range(3):
            ev = b"event: token\ndata: {\"i\": %d}\n\n" % i
            steps.put(ev)
            got = c.events(lambda evs: sum(len(e.data) for e in evs
                                           if isinstance(e, h2.events.DataReceived)) >= len(ev))
            check(b"".join(e.data for e in got if isinstance(e, h2.events.DataReceived)) == ev,
                  got)
            sse = p.wait_events(lambda evs: sum(e["type"] == "sse_event" for e in evs) > i,
                                "sse_event %d" % i)
            sse = [e for e in sse if e["type"] == "sse_event"]
            check(len(sse) == i + 1 and sse[i]["excerpt"] == '{"i": %d}' % i and
                  sse[i]["stream"] == 1, sse)
        steps.put(None)
        evs = c.events(lambda evs: any(isinstance(e, h2.events.StreamEnded) for e in evs))
        tr = [e.headers for e in evs if isinstance(e, h2.events.TrailersReceived)]
        check(tr == [[(b"x-events", b"3")]], tr)
        check(seen["body"] == b"question" and seen["trailers"] == [(b"x-request-sum", b"8")],
              seen)
        check((b"te", b"trailers") in seen["headers"], seen["headers"])
        c.t.close()
    srv.close()


def flood(p, port, n, reset, cancel_every=0):
    """Writes n request HEADERS frames by hand (python3-h2 would refuse to
    exceed the peer's limits), each followed by RST_STREAM(CANCEL) when
    reset; reads until the proxy closes. Returns the frames received."""
    from hyperframe.frame import HeadersFrame, RstStreamFrame
    import h2.frame_buffer
    c = H2Client(p, port)
    hdrs = [(":method", "GET"), (":scheme", "https"), (":authority", "localhost:%d" % port),
            (":path", "/")]
    out = b""
    for i in range(n):
        f = HeadersFrame(1 + 2 * i)
        f.data = c.conn.encoder.encode(hdrs)
        f.flags.add("END_HEADERS")
        f.flags.add("END_STREAM")
        out += f.serialize()
        if reset:
            r = RstStreamFrame(1 + 2 * i)
            r.error_code = 8
            out += r.serialize()
    try:
        c.t.sendall(out)
    except OSError:
        pass  # the proxy may close before it read everything
    got = b""
    c.t.settimeout(DEADLINE)
    while True:
        try:
            d = c.t.recv(65536)
        except OSError:
            break
        if not d:
            break
        got += d
    c.t.close()
    fb = h2.frame_buffer.FrameBuffer(server=False)
    fb.max_frame_size = 1 << 24
    fb.add_data(got)
    return list(fb)


def check_calm(p, frames, reason):
    from hyperframe.frame import GoAwayFrame
    goaways = [f for f in frames if isinstance(f, GoAwayFrame)]
    check(len(goaways) == 1 and goaways[0].error_code == 11,
          "want one GOAWAY ENHANCE_YOUR_CALM: %s" % goaways)
    evs = p.wait_closed(1)
    pe = [e for e in evs if e["type"] == "parse_error"]
    check(len(pe) == 1 and pe[0]["module"] == "h2" and pe[0]["reason"] == reason and
          pe[0]["fatal"] == 1, pe)
    closed = [e["reason"] for e in evs if e["type"] == "flow_closed"]
    check(closed == ["h2_" + reason], closed)


def test_rapid_reset_gets_enhance_your_calm():
    """CVE-2023-44487: streams opened and cancelled at once, by the
    thousand. nghttp2's own limit would answer INTERNAL_ERROR after 1000;
    ours ends it sooner and says why."""
    crt, key = LAB.leaf("h2rr")
    srv = h2_server(crt, key)
    with proxy(ADMIN) as p:
        frames = flood(p, srv.port, 2000, reset=True)
        check_calm(p, frames, "rapid_reset")
        m = parse(scrape(admin_port(p)))
        check(total(m, "soth_flows_closed_total", reason="h2_rapid_reset") == 1, "counter")
        check(total(m, "soth_parser_errors_total", stage="h2_client") == 1, "parse counter")
    srv.close()


def test_stream_flood_gets_enhance_your_calm():
    """10,000 streams at once: the first 100 (SETTINGS_MAX_CONCURRENT_STREAMS)
    are taken, the rest refused, and a client that keeps going is told to
    calm down rather than dropped silently."""
    crt, key = LAB.leaf("h2sf")
    srv = h2_server(crt, key)
    with proxy() as p:
        frames = flood(p, srv.port, 10000, reset=False)
        check_calm(p, frames, "stream_flood")
    srv.close()


def test_some_cancelled_streams_are_fine():
    """A browser cancels streams it no longer needs: a few hundred over a
    connection's life, among completed ones, never end it."""
    crt, key = LAB.leaf("h2ok")
    srv = h2_server(crt, key)
    with proxy() as p:
        c = H2Client(p, srv.port)
        hdrs = [(":method", "GET"), (":scheme", "https"),
                (":authority", "localhost:%d" % srv.port)]
        sid = 1
        for rnd in range(6):  # 6 x 80 cancelled, each round followed by answered ones
            for _ in range(80):
                c.conn.send_headers(sid, hdrs + [(":path", "/c%d" % sid)], end_stream=True)
                c.conn.reset_stream(sid, error_code=8)
                sid += 2
            done = []
            for _ in range(20):
                c.conn.send_headers(sid, hdrs + [(":path", "/k%d" % sid)], end_stream=True)
                done.append(sid)
                sid += 2
            c.flush()
            evs = c.events(lambda evs: all(any(isinstance(e, h2.events.StreamEnded) and
                                               e.stream_id == s for e in evs) for s in done))
        c.t.close()
        evs = p.wait_closed(1)
        closed = [e["reason"] for e in evs if e["type"] == "flow_closed"]
        check(closed == ["done"], closed)
        check(not [e for e in evs if e["type"] == "parse_error"], "a parse_error")
    srv.close()


def test_kill_switch_reload_turns_http2_off_for_new_connections_only():
    """disable: [http2] by reload: new intercepted connections negotiate
    HTTP/1.1, an open h2 connection goes on with h2."""
    import signal
    crt, key = LAB.leaf("h2k")
    srv = h2_server(crt, key)
    cadir = os.path.join(LAB.dir, "ca")
    p = Proxy(config="default_action: intercept\n",
              args=["--ca-dir", cadir, "--upstream-ca", LAB.ca, "--set", "tls.system_ca="],
              threads=1)
    p.ca = os.path.join(cadir, "ca.pem")
    try:
        c = H2Client(p, srv.port)  # h2 (checked by the client)
        with open(os.path.join(p.dir, "config.yaml"), "w") as f:
            f.write("default_action: intercept\ndisable: [http2]\n")
        p.proc.send_signal(signal.SIGHUP)
        end = time.monotonic() + DEADLINE
        while not any("SIGHUP: reloaded" in l for l in p.stderr_lines):
            check(time.monotonic() < end, "no reload: %s" % "".join(p.stderr_lines))
            time.sleep(0.01)
        s, status, _ = connect_via(p.port, "localhost:%d" % srv.port)
        check(" 200 " in status, status)
        ctx = ssl.create_default_context(cafile=p.ca)
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        t = ctx.wrap_socket(s, server_hostname="localhost")
        # no ALPN agreed means HTTP/1.1 too (this origin offers only h2)
        check(t.selected_alpn_protocol() in (None, "http/1.1"),
              "a new connection still got %s" % t.selected_alpn_protocol())
        t.close()
        hdrs = [(":method", "GET"), (":scheme", "https"),
                (":authority", "localhost:%d" % srv.port), (":path", "/after")]
        c.conn.send_headers(1, hdrs, end_stream=True)
        c.flush()
        evs = c.events(lambda evs: any(isinstance(e, h2.events.StreamEnded) for e in evs))
        body = b"".join(e.data for e in evs if isinstance(e, h2.events.DataReceived))
        check(body == b"h2:/after body=0\n", body)
        c.t.close()
    finally:
        rc = p.stop()
        srv.close()
    check(rc == 0, rc)


if __name__ == "__main__":
    run_tests([test_curl_http2_through_the_proxy, test_many_streams_on_one_connection,
               test_open_streams_gauge_returns_to_zero,
               test_streaming_response_and_trailers_both_ways,
               test_rapid_reset_gets_enhance_your_calm, test_stream_flood_gets_enhance_your_calm,
               test_some_cancelled_streams_are_fine,
               test_kill_switch_reload_turns_http2_off_for_new_connections_only])
