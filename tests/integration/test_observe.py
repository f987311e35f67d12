"""Protocol observers on relayed HTTP/1.1: SSE events reported as they
arrive, bodies decoded (gzip, msgpack, anti-hijack guards) into payload
events, decoder failures as parse_error, and the forwarded bytes untouched."""
import gzip
import json
import os
import socket
import subprocess
import threading

import msgpack

from smlib import DEADLINE, Proxy, Server, check, check_event_order, http_response, run_tests
from tlslab import Lab, tls_server

LAB = Lab()


def get(p, port, path, host="127.0.0.1"):
    s = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
    s.sendall(b"GET http://%s:%d%s HTTP/1.1\r\nHost: x\r\n\r\n" % (host.encode(), port, path))
    return s


def body_server(bodies):
    """Answers path -> (content-type, content-encoding, body bytes)."""
    def h(c):
        req = b""
        while b"\r\n\r\n" not in req:
            req += c.recv(4096)
        path = req.split(b" ")[1].decode()
        ctype, enc, body = bodies[path]
        head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
            ctype.encode(), len(body))
        if enc:
            head += b"Content-Encoding: %s\r\n" % enc.encode()
        c.sendall(head + b"\r\n" + body)
    return Server(h)


def test_sse_events_are_reported_as_they_arrive():
    step = [threading.Event() for _ in range(4)]

    def h(c):
        req = b""
        while b"\r\n\r\n" not in req:
            req += c.recv(4096)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        for i in range(3):
            data = b'event: token\ndata: {"i": %d}\n\n' % i
            c.sendall(b"%x\r\n%s\r\n" % (len(data), data))
            step[i].wait(DEADLINE)  # the test releases us once it saw the event
        c.sendall(b"0\r\n\r\n")
    srv = Server(h)
    with Proxy() as p:
        s = get(p, srv.port, b"/stream")
        for i in range(3):
            evs = p.wait_events(lambda evs: sum(e["type"] == "sse_event" for e in evs) > i,
                                "sse_event %d before event %d is sent" % (i, i + 1))
            sse = [e for e in evs if e["type"] == "sse_event"]
            check(len(sse) == i + 1, "exactly %d events so far: %s" % (i + 1, sse))
            check(sse[i]["event"] == "token" and sse[i]["excerpt"] == '{"i": %d}' % i and
                  sse[i]["kind"] == "json", sse[i])
            step[i].set()
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            data += s.recv(65536)
        check(data.count(b"event: token") == 3, "the stream is forwarded untouched")
        s.close()
        check_event_order(p.wait_closed(1))
    srv.close()


def test_bodies_are_decoded_into_payload_events():
    js = b'{"answer": 42, "text": "hello"}'
    bodies = {
        "/guarded": ("application/json", None, b")]}'\n" + js),
        "/gzip": ("application/json", "gzip", gzip.compress(js)),
        "/msgpack": ("application/msgpack", None, msgpack.packb({"a": [1, 2, 3]})),
        "/corrupt": ("application/json", "gzip", b"\x1f\x8b\x08\x00garbage-not-deflate"),
        "/image": ("image/png", None, b"\x89PNG not observed"),
    }
    srv = body_server(bodies)
    with Proxy() as p:
        got = {}
        for path in bodies:
            s = get(p, srv.port, path.encode())
            status, _, body = http_response(s)
            s.close()
            got[path] = body
            check(status == 200 and body == bodies[path][2], "%s forwarded untouched" % path)
        evs = p.wait_closed(len(bodies))
        pay = [e for e in evs if e["type"] == "payload"]
        by_excerpt = {e["excerpt"]: e for e in pay}
        g = [e for e in pay if e["sanitized"]]
        check(len(g) == 1 and g[0]["guard"].startswith(")]}'") and g[0]["kind"] == "json" and
              g[0]["excerpt"].startswith('{"answer": 42'), "guard stripped: %s" % g)
        check(any(e["excerpt"].startswith('{"answer": 42') and not e["sanitized"] for e in pay),
              "gzip decoded: %s" % pay)
        mp = [e for e in pay if e["kind"] == "msgpack"]
        check(mp and mp[0]["excerpt"] == '{"a":[1,2,3]}', "msgpack as JSON: %s" % mp)
        errs = [e for e in evs if e["type"] == "parse_error"]
        check(errs and errs[0]["stage"] == "content" and errs[0]["module"] == "gzip", errs)
        check(not any("PNG" in e.get("excerpt", "") for e in pay), "images are not decoded")
    srv.close()


def test_big_bodies_are_decoded_only_as_far_as_the_excerpt_needs():
    """By default a body is decoded only up to its first bytes: a large gzip
    JSON or msgpack body gives its excerpt with length -1 (not decoded to
    the end), and damage past the first bytes goes unseen; with
    observe.whole_bodies=true the whole body is decoded, its decoded length
    exact and the damage reported."""
    js = b'{"items": [' + b",".join(b'{"n": %d, "name": "item-%d"}' % (i, i)
                                   for i in range(3000)) + b"]}"
    gz = gzip.compress(js)
    bad = gz[:len(gz) // 2] + b"\xee" * (len(gz) - len(gz) // 2)
    doc = {"items": [{"n": i, "name": "item-%d" % i} for i in range(3000)]}
    mp = msgpack.packb(doc)
    mp_json = json.dumps(doc, separators=(",", ":"))
    bodies = {"/gz": ("application/json", "gzip", gz), "/bad": ("application/json", "gzip", bad),
              "/mp": ("application/msgpack", None, mp),
              "/plain": ("application/json", None, js)}
    srv = body_server(bodies)
    for whole in (False, True):
        with Proxy(args=["--set", "observe.whole_bodies=%s" % ("true" if whole else "false")]) as p:
            for path in bodies:
                s = get(p, srv.port, path.encode())
                status, _, body = http_response(s)
                s.close()
                check(status == 200 and body == bodies[path][2], "%s forwarded untouched" % path)
            evs = p.wait_closed(len(bodies))
            pay = [e for e in evs if e["type"] == "payload"]
            errs = [e for e in evs if e["type"] == "parse_error"]
            json_pay = [e for e in pay if e["kind"] == "json"]
            lengths = sorted(e["length"] for e in json_pay)
            mpp = [e for e in pay if e["kind"] == "msgpack"]
            check(len(mpp) == 1 and mpp[0]["excerpt"] == mp_json[:64], mpp)
            check(all(e["excerpt"] == js[:64].decode() for e in json_pay), json_pay)
            if whole:
                check(lengths == [len(js), len(js)], "exact lengths: %s" % lengths)
                check(mpp[0]["length"] == len(mp_json), mpp)
                check(len(errs) == 1 and errs[0]["module"] == "gzip", errs)
            else:
                # /gz and /bad cut at the prefix, /plain counted whole
                check(lengths == [-1, -1, len(js)], "prefix lengths: %s" % lengths)
                check(mpp[0]["length"] == -1, mpp)
                check(not errs, "damage past the prefix is not seen: %s" % errs)
    srv.close()


def test_switches_turn_observers_off():
    js = b'{"x": 1}'
    srv = body_server({"/j": ("application/json", None, js)})
    with Proxy(args=["--set", "observe.decoders=false", "--set", "observe.sse=false"]) as p:
        s = get(p, srv.port, b"/j")
        status, _, body = http_response(s)
        s.close()
        check(body == js, body)
        evs = p.wait_closed(1)
        check(not [e for e in evs if e["type"] in ("payload", "sse_event")], "observers off")
    srv.close()


def test_observers_work_inside_intercepted_tls():
    crt, key = LAB.leaf("obs")
    js = b'while(1);{"secret": "seen"}'

    def h(c):
        req = b""
        while b"\r\n\r\n" not in req:
            req += c.recv(4096)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                  % len(js) + js)
    srv = tls_server(crt, key, handler=h)
    cadir = os.path.join(LAB.dir, "ca")
    with Proxy(args=["--set", "default_action=intercept", "--ca-dir", cadir, "--upstream-ca",
                     LAB.ca, "--set", "tls.system_ca="]) as p:
        out = subprocess.run(["curl", "-sS", "-m", "20", "--cacert", os.path.join(cadir, "ca.pem"),
                              "-x", p.url, "https://localhost:%d/x" % srv.port],
                             capture_output=True, timeout=DEADLINE)
        check(out.stdout == js, out)
        evs = p.wait_closed(1)
        pay = [e for e in evs if e["type"] == "payload"]
        check(pay and pay[0]["sanitized"] and pay[0]["guard"] == "while(1);" and
              pay[0]["excerpt"] == '{"secret": "seen"}', pay)
    srv.close()


if __name__ == "__main__":
    run_tests([test_sse_events_are_reported_as_they_arrive,
               test_bodies_are_decoded_into_payload_events,
               test_big_bodies_are_decoded_only_as_far_as_the_excerpt_needs,
               test_switches_turn_observers_off,
               test_observers_work_inside_intercepted_tls])
