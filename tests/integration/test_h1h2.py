"""HTTP/1.1 client in front of an h2-only upstream (proto/h1h2): curl
--http1.1 through the proxy (CONNECT, our CA) to a python3-h2 TLS origin
that offers only h2. With http2_upstream_for_h1_clients on, the proxy
offers the upstream h2,http/1.1, the origin picks h2, the client keeps
HTTP/1.1 and every request becomes one h2 stream: bodies byte-exact,
keep-alive on one upstream connection, the usual events. Off (the
default), the upstream is offered http/1.1 only and the request fails with
a 502."""
import os
import ssl
import subprocess

from smlib import (ADMIN, DEADLINE, Proxy, admin_port, check, check_event_order, connect_via,
                   http_response, parse, run_tests, scrape, total)
from tlslab import Lab
from h2origin import h2_echo_server, pattern

LAB = Lab()


def proxy(on):
    cadir = os.path.join(LAB.dir, "ca")
    args = ["--set", "default_action=intercept", "--ca-dir", cadir, "--upstream-ca", LAB.ca,
            "--set", "tls.system_ca="]
    if on:
        args += ["--set", "http2_upstream_for_h1_clients=true"]
    p = Proxy(args=args + ADMIN, threads=1)
    p.ca = os.path.join(cadir, "ca.pem")
    return p


def curl(p, *args):
    return subprocess.run(["curl", "-sS", "-m", "20", "--http1.1", "--cacert", p.ca, "-x", p.url]
                          + list(args), capture_output=True, timeout=DEADLINE)


def test_http11_client_to_h2_only_origin():
    crt, key = LAB.leaf("h1h2o")
    srv = h2_echo_server(crt, key)
    with proxy(True) as p:
        url = "https://localhost:%d" % srv.port
        outs = [os.path.join(LAB.dir, "o%d" % i) for i in range(4)]
        # four requests on one kept-alive client connection
        out = curl(p, "-w", "%{http_version} %{response_code} %{num_connects}\n",
                   url + "/size/100000", "-o", outs[0], url + "/chunked/70000", "-o", outs[1],
                   url + "/trailers", "-o", outs[2], url + "/size/0", "-o", outs[3])
        check(out.returncode == 0, out.stderr)
        check(out.stdout == b"1.1 200 1\n1.1 200 0\n1.1 200 0\n1.1 200 0\n", (out.stdout, out.stderr))
        with open(outs[0], "rb") as f:
            check(f.read() == pattern(100000), "GET body")
        with open(outs[1], "rb") as f:
            check(f.read() == pattern(70000), "chunked body")
        with open(outs[2], "rb") as f:
            check(f.read() == b"ok", "trailers body")
        body = os.path.join(LAB.dir, "body.bin")
        data = os.urandom(200000)
        with open(body, "wb") as f:
            f.write(data)
        post = curl(p, "--data-binary", "@" + body, "-H", "Content-Type: application/octet-stream",
                    "-o", outs[0], url + "/up")
        check(post.returncode == 0, post.stderr)
        with open(outs[0], "rb") as f:
            check(f.read() == data, "POST echo")
        chunked = curl(p, "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + body,
                       "-o", outs[1], url + "/up2")
        check(chunked.returncode == 0, chunked.stderr)
        with open(outs[1], "rb") as f:
            check(f.read() == data, "chunked POST echo")
        evs = p.wait_closed(3)
        check_event_order(evs)
        ok = {(e["side"], e["alpn"]) for e in evs if e["type"] == "tls_handshake_succeeded"}
        check(ok == {("client", "http/1.1"), ("server", "h2")}, ok)
        reqs = [(e["method"], e["target"], e["stream"], e["http_minor"]) for e in evs
                if e["type"] == "proxy_request" and e["method"] != "CONNECT"]
        check(reqs == [("GET", "/size/100000", 1, 1), ("GET", "/chunked/70000", 2, 1),
                       ("GET", "/trailers", 3, 1), ("GET", "/size/0", 4, 1),
                       ("POST", "/up", 1, 1), ("POST", "/up2", 1, 1)], reqs)
        resp = [e["status"] for e in evs if e["type"] == "http_response"]
        check(resp == [200] * 6, resp)
        m = parse(scrape(admin_port(p)))
        check(total(m, "soth_h2_translated_h1_to_h2_total") == 3 and
              total(m, "soth_h2_translated_h2_to_h1_total") == 0 and
              total(m, "soth_h2_connections_total") == 3, m)
        check(all(e["reason"] == "done" for e in evs if e["type"] == "flow_closed"),
              [e for e in evs if e["type"] == "flow_closed"])
    check(srv.conns == 3 and srv.alpn == ["h2"] * 3, (srv.conns, srv.alpn))
    hdr = dict(srv.reqs[0][2])
    check(hdr[":authority"] == "localhost:%d" % srv.port and hdr[":scheme"] == "https", hdr)
    check("connection" not in hdr and "host" not in hdr, hdr)
    check(dict(srv.reqs[4][2]).get("content-length") == "200000", srv.reqs[4][2])
    check("content-length" not in dict(srv.reqs[5][2]), srv.reqs[5][2])
    srv.close()


def test_switch_off_fails_with_502():
    crt, key = LAB.leaf("h1h2off")
    srv = h2_echo_server(crt, key)
    with proxy(False) as p:
        url = "https://localhost:%d" % srv.port
        body = os.path.join(LAB.dir, "off.txt")
        out = curl(p, "-w", "%{response_code}", "-o", body, url + "/size/10")
        check(out.stdout == b"502", (out.stdout, out.stderr))
        with open(body, "rb") as f:
            text = f.read()
        check(b"the upstream speaks HTTP/2 only: no ALPN agreed" in text, text)
        evs = p.wait_closed(1)
        check(any(e["type"] == "flow_closed" for e in evs), evs)
    check(not srv.reqs, srv.reqs)
    srv.close()


def test_ipv6_origin_gets_a_bracketed_authority():
    """An HTTP/1.0 request without Host, to an h2 origin reached as
    CONNECT [::1]:port: the :authority made from the CONNECT target puts
    the IPv6 address in brackets."""
    crt, key = LAB.leaf("h1h2v6", san="IP:::1")
    srv = h2_echo_server(crt, key, host="::1")
    with proxy(True) as p:
        s, status, _ = connect_via(p.port, "[::1]:%d" % srv.port)
        check(" 200 " in status, status)
        t = ssl.create_default_context(cafile=p.ca).wrap_socket(s, server_hostname="::1")
        t.sendall(b"GET /size/3 HTTP/1.0\r\n\r\n")
        st, _, body = http_response(t)
        check(st == 200 and body == pattern(3), (st, body))
        t.close()
        p.wait_closed(1)
        hdrs = dict(srv.reqs[0][2])
        check(hdrs.get(":authority") == "[::1]:%d" % srv.port, srv.reqs)
    srv.close()


if __name__ == "__main__":
    run_tests([test_http11_client_to_h2_only_origin, test_switch_off_fails_with_502,
               test_ipv6_origin_gets_a_bracketed_authority])
