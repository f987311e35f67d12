"""TLS interception end to end: curl trusts our CA and sees the origin's
answer; every request and response is an event; and every TLS failure, on
either side, is classified to its expected side and reason."""
import os
import socket
import ssl
import subprocess
import tempfile

from smlib import (ADMIN, DEADLINE, Proxy, admin_port, check, check_event_order, connect_via,
                   http_response, parse, run_tests, scrape, total)
from tlslab import Lab, http_responder, raw_server, refusing_client, tls_server

LAB = Lab()


def mitm_proxy(extra=(), config=None, threads=2):
    cadir = os.path.join(LAB.dir, "proxy-ca")
    args = ["--set", "default_action=intercept", "--ca-dir", cadir, "--upstream-ca", LAB.ca,
            "--set", "tls.system_ca=", "--set", "tls.handshake_timeout_ms=1500"] + list(extra)
    p = Proxy(config, args=args, threads=threads)
    p.ca = os.path.join(cadir, "ca.pem")
    return p


def curl(p, *args, ok=True):
    """curl through the proxy trusting its CA; args in order (URLs included)."""
    out = subprocess.run(["curl", "-sS", "-m", "20", "--cacert", p.ca, "-x", p.url] + list(args),
                         capture_output=True, timeout=DEADLINE)
    if ok:
        check(out.returncode == 0, "curl %s: %s" % (args, out.stderr))
    return out


def test_intercepted_requests_and_events():
    crt, key = LAB.leaf("good")
    srv = tls_server(crt, key, alpn=["http/1.1"])
    with mitm_proxy(threads=1) as p:  # one reactor: one leaf cache
        url = "https://localhost:%d" % srv.port
        out = curl(p, url + "/a", url + "/b?q=1", "-H", "X-Test: 1")
        check(out.stdout == b"hello from the origin\npath=/a body=0\n"
                            b"hello from the origin\npath=/b?q=1 body=0\n", out.stdout)
        post = curl(p, "--data-binary", "x" * 100000, url + "/up")
        check(post.stdout.endswith(b"path=/up body=100000\n"), post.stdout)
        evs = p.wait_closed(2)
        check_event_order(evs)
        types = [e["type"] for e in evs if e["flow"] == evs[0]["flow"]]
        for t in ("tls_client_hello", "tls_handshake_succeeded", "tls_leaf_cert", "http_response"):
            check(t in types, "%s missing: %s" % (t, types))
        ok = [e for e in evs if e["type"] == "tls_handshake_succeeded"]
        check({e["side"] for e in ok} == {"client", "server"}, ok)
        check(all(e["alpn"] == "http/1.1" and e["sni"] == "localhost" for e in ok), ok)
        ch = [e for e in evs if e["type"] == "tls_client_hello"][0]
        check(ch["sni"] == "localhost" and "http/1.1" in ch["alpn"], ch)
        reqs = [e for e in evs if e["type"] == "proxy_request" and e["method"] != "CONNECT"]
        check([r["target"] for r in reqs] == ["/a", "/b?q=1", "/up"], reqs)
        resp = [e for e in evs if e["type"] == "http_response"]
        check([r["status"] for r in resp] == [200, 200, 200], resp)
        leafs = [e for e in evs if e["type"] == "tls_leaf_cert"]
        check([l["cache_hit"] for l in leafs] == [0, 1], "second connection reuses the leaf: %s" % leafs)
        check(all(e["reason"] == "done" for e in evs if e["type"] == "flow_closed"), evs[-1])
    srv.close()


def failure(p, evs, side):
    f = [e for e in evs if e["type"] == "tls_handshake_failed" and e["side"] == side]
    check(len(f) == 1, "expected one %s-side failure: %s" % (side, [e for e in evs if e["type"] != "flow_open"]))
    for k in ("client", "host", "sni", "tls_failure_source", "inference", "tls_ops_provider",
              "alert", "tls_error", "flow"):
        check(k in f[0], "failure event lacks %s: %s" % (k, f[0]))
    check(f[0]["tls_ops_provider"] == "soth-mitm", f[0])
    return f[0]


def server_case(srv, want, host="localhost"):
    with mitm_proxy() as p:
        out = curl(p, "https://%s:%d/" % (host, srv.port), ok=False)
        evs = p.wait_closed(1)
        check(any(e["type"] == "tls_handshake_failed" for e in evs),
              "%s: no handshake failure seen: %s" % (want, [e["type"] for e in evs]))
        f = failure(p, evs, "server")
        check(f["reason"] == want, "expected %s, got %s" % (want, f))
        # nothing is guessed on the upstream side
        check(f["tls_failure_source"] == "native_authoritative" and f["inference"] == "none", f)
        check(b"502" in out.stdout and want.encode() in out.stdout,
              "the client must get a 502 naming %s: %r %r" % (want, out.stdout, out.stderr))
        return f


def test_server_side_failures_are_classified():
    cases = []
    crt, key = LAB.leaf("rogue", rogue=True)
    cases.append(("unknown_ca", tls_server(crt, key)))
    crt, key = LAB.leaf("expired", start="20200101000000Z", end="20200201000000Z")
    cases.append(("cert_expired", tls_server(crt, key)))
    crt, key = LAB.leaf("future", start="20990101000000Z", end="20990201000000Z")
    cases.append(("cert_not_yet_valid", tls_server(crt, key)))
    crt, key = LAB.leaf("wrongname", san="DNS:other.test")
    cases.append(("hostname_mismatch", tls_server(crt, key)))
    cases.append(("alpn_mismatch", raw_server("no_alpn")))
    crt, key = LAB.leaf("oldtls")
    cases.append(("protocol_version", tls_server(crt, key, max_version=ssl.TLSVersion.TLSv1_1,
                                                 min_version=ssl.TLSVersion.TLSv1)))
    cases.append(("handshake_alert", raw_server("alert")))
    cases.append(("timeout", raw_server("stall")))
    cases.append(("eof", raw_server("eof")))
    cases.append(("reset", raw_server("reset")))
    results = {}
    for want, srv in cases:
        f = server_case(srv, want)
        results[want] = f["reason"]
        if hasattr(srv, "release"):
            srv.release.set()
        srv.close()
    check(all(k == v for k, v in results.items()), results)


def test_client_side_failures_are_classified():
    """Each way a client refuses us, and what the event says: the reason is
    what was seen (an alert, else the eof or reset), tls_failure_source says
    how it was known, and a guess from timing is named in inference, never
    passed off as the reason."""
    crt, key = LAB.leaf("good2")
    srv = tls_server(crt, key)
    target = "localhost:%d" % srv.port
    authoritative = ("native_authoritative", "none")
    inferred = ("native_inferred", "closed_after_certificate")
    with mitm_proxy() as p:
        cases = []

        def expect(what, side_reason_alert, how):
            cases.append((what, side_reason_alert, how))
            return p.wait_closed(len(cases))

        # curl without our CA (OpenSSL, TLS 1.3): an unencrypted unknown_ca
        # alert, which wolfSSL cannot read itself
        out = subprocess.run(["curl", "-sS", "-m", "20", "-x", p.url, "https://%s/" % target],
                             capture_output=True, timeout=DEADLINE)
        check(out.returncode != 0, "curl without our CA must fail")
        expect("curl", ("client", "unknown_ca", 48), authoritative)
        # openssl s_client refusing us, TLS 1.3 and TLS 1.2 (read by wolfSSL)
        for v in ("-tls1_3", "-tls1_2"):
            subprocess.run(["openssl", "s_client", v, "-proxy", "127.0.0.1:%d" % p.port,
                            "-connect", target, "-servername", "localhost",
                            "-verify_return_error", "-CAfile", LAB.ca],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=DEADLINE)
            expect("s_client " + v, ("client", "unknown_ca", 48), authoritative)
        # the alert OpenSSL makes in TLS 1.3 is unencrypted: 21, 3.3, 2 bytes
        alert = refusing_client(p.port, target, "alert", LAB.ca)
        check(alert == bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 48]), alert.hex())
        expect("python, alert", ("client", "unknown_ca", 48), authoritative)
        # the same client closing, or resetting, without sending its alert
        refusing_client(p.port, target, "close", LAB.ca)
        expect("python, closes", ("client", "eof", -1), inferred)
        refusing_client(p.port, target, "reset", LAB.ca)
        expect("python, resets", ("client", "reset", -1), inferred)
        # a client that closes in the middle of its ClientHello: no guess
        s, status, _ = connect_via(p.port, target)
        check(status.startswith("HTTP/1.1 200"), status)
        s.sendall(bytes([0x16, 0x03, 0x01, 0x00, 0x80, 0x01]))  # part of a ClientHello
        s.close()
        evs = expect("hello cut", ("client", "eof", -1), authoritative)
        flows = [e["flow"] for e in evs if e["type"] == "flow_closed"]
        for (what, want, how), flow in zip(cases, flows):
            f = [e for e in evs if e["type"] == "tls_handshake_failed" and e["flow"] == flow]
            check(len(f) == 1, "%s: %s" % (what, f))
            f = f[0]
            got = ((f["side"], f["reason"], f["alert"]), (f["tls_failure_source"], f["inference"]))
            check(got == (want, how), "%s: expected %s, got %s" % (what, (want, how), f))
            check(f["tls_ops_provider"] == "soth-mitm", f)
    srv.close()

def test_ip_literal_targets_are_verified_against_ip_sans():
    """CONNECT to an IP literal, v6 and v4: the upstream's certificate must
    name the address as an iPAddress subjectAltName (a dNSName spelling the
    address does not count), no IP goes out as SNI, the client gets a leaf
    whose iPAddress SAN curl accepts, and every host:port printed for an IPv6
    target is in brackets."""
    cases = [  # (origin address, certificate SAN, expected failure or None)
        ("::1", "IP:::1", None),
        ("127.0.0.1", "IP:127.0.0.1", None),
        ("::1", "IP:::2", "hostname_mismatch"),
        ("127.0.0.1", "DNS:127.0.0.1", "hostname_mismatch"),
        ("127.0.0.1", "IP:127.0.0.2,DNS:localhost", "hostname_mismatch"),
    ]
    for i, (addr, san, want) in enumerate(cases):
        crt, key = LAB.leaf("ipsan%d" % i, san=san)
        srv = tls_server(crt, key, alpn=["http/1.1"], host=addr)
        hostport = ("[%s]:%d" if ":" in addr else "%s:%d") % (addr, srv.port)
        with mitm_proxy(threads=1) as p:
            out = curl(p, "https://%s/ip" % hostport, ok=want is None)
            evs = p.wait_closed(1)
            check_event_order(evs)
            what = "%s %s: %r %r" % (addr, san, out.stdout, out.stderr)
            if want is None:
                check(out.stdout.endswith(b"path=/ip body=0\n"), what)
                ok = [e for e in evs if e["type"] == "tls_handshake_succeeded"]
                check({e["side"] for e in ok} == {"client", "server"}, ok)
                check(all(e["sni"] == "" for e in ok), "no SNI either side: %s" % ok)
                leaf = [e for e in evs if e["type"] == "tls_leaf_cert"]
                check(leaf and leaf[0]["name"] == addr, leaf)
            else:
                check(out.returncode == 0 and b"502" in out.stdout, what)
                check(want.encode() in out.stdout, what)
                check(hostport.encode() in out.stdout, "the 502 names %s: %s" % (hostport, what))
                f = failure(p, evs, "server")
                check(f["reason"] == want and f["host"] == hostport, f)
            check(srv.snis and all(n is None for n in srv.snis),
                  "no SNI for an IP literal (RFC 6066): %s" % srv.snis)
            dec = [e for e in evs if e["type"] == "connect_decision"]
            check(dec and dec[0]["host"] == addr and dec[0]["port"] == srv.port, dec)
        srv.close()


def test_non_tls_after_connect_is_tunnelled_or_refused():
    def echo(c):
        c.sendall(c.recv(100))
    from smlib import Server, read_all
    srv = Server(echo)
    with mitm_proxy() as p:
        s, status, _ = connect_via(p.port, "127.0.0.1:%d" % srv.port)
        s.sendall(b"PING plain\n")
        check(s.recv(100) == b"PING plain\n", "non-TLS bytes are tunnelled by default")
        s.close()
        evs = p.wait_closed(1)
        nt = [e for e in evs if e["type"] == "tls_not_tls"]
        check(nt and nt[0]["action"] == "tunnel" and nt[0]["first_bytes"].startswith("50494e47"), nt)
    with mitm_proxy(["--set", "tls.non_tls=block"]) as p:
        s, status, _ = connect_via(p.port, "127.0.0.1:%d" % srv.port)
        s.sendall(b"PING plain\n")
        check(read_all(s) == b"", "refused: the connection closes")
        evs = p.wait_closed(1)
        check(evs[-1]["reason"] == "not_tls", evs[-1])
    srv.close()


def test_records_to_the_client_start_small_then_grow():
    body = bytes(range(256)) * 800  # 200 KiB
    crt, key = LAB.leaf("big")
    srv = tls_server(crt, key, handler=http_responder(body))
    with mitm_proxy() as p:
        s, status, _ = connect_via(p.port, "localhost:%d" % srv.port)
        check(status.startswith("HTTP/1.1 200"), status)
        ctx = ssl.create_default_context(cafile=p.ca)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(inc, out, server_hostname="localhost")
        raw = bytearray()

        def pump():
            if out.pending:
                s.sendall(out.read())

        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pump()
                b = s.recv(65536)
                check(b, "closed during the handshake")
                inc.write(b)
        pump()
        tls.write(b"GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n")
        pump()
        got = b""
        want = len(body) + len(b"path=/big body=0\n")
        while want > 0 and len(got) < want:
            b = s.recv(65536)
            check(b, "closed before the whole response")
            raw += b
            inc.write(b)
            try:
                while True:
                    got += tls.read(65536)
            except ssl.SSLWantReadError:
                pass
            if b"\r\n\r\n" in got and want == len(body) + len(b"path=/big body=0\n"):
                want += got.index(b"\r\n\r\n") + 4
        s.close()
        check(got.endswith(b"path=/big body=0\n"), "response intact")
        # records on the wire: 5-byte header, TLS 1.3 adds 17 bytes (type + tag)
        lens, pos = [], 0
        while pos + 5 <= len(raw):
            n = int.from_bytes(raw[pos + 3:pos + 5], "big")
            lens.append((raw[pos], n))
            pos += 5 + n
        app = [n - 17 for t, n in lens if t == 23 and n > 17 + 300]  # skip tickets
        check(app and all(n <= 1369 for n in app[:10]), "first records small: %s" % app[:12])
        check(max(app) >= 16000, "records grow to 16 KiB: max %d" % max(app))
        p.wait_closed(1)
    srv.close()


def keylines(path):
    """Key log lines, without the exporter secrets (not needed to decrypt;
    this wolfSSL does not report them)."""
    with open(path) as f:
        return {l.strip() for l in f
                if l.strip() and not l.startswith("#") and "EXPORTER_SECRET" not in l}


def test_keylog_holds_the_secrets_of_both_sessions():
    """--keylog writes SSLKEYLOGFILE lines: exactly the lines curl (client
    side) and the origin (upstream side) log for their own sessions, in a
    0600 file, and none of it in the event stream."""
    crt, key = LAB.leaf("klog")
    logs = {k: os.path.join(LAB.dir, k + ".keys") for k in ("proxy", "curl", "origin")}
    for path in logs.values():
        if os.path.exists(path):
            os.unlink(path)
    srv = tls_server(crt, key, alpn=["http/1.1"], keylog=logs["origin"])
    with mitm_proxy(["--keylog", logs["proxy"]], threads=1) as p:
        out = subprocess.run(["curl", "-sS", "-m", "20", "--cacert", p.ca, "-x", p.url,
                              "https://localhost:%d/k" % srv.port], capture_output=True,
                             timeout=DEADLINE, env=dict(os.environ, SSLKEYLOGFILE=logs["curl"]))
        check(out.returncode == 0 and out.stdout.endswith(b"path=/k body=0\n"), out)
        evs = p.wait_closed(1)
        check(not [e for e in evs if "keylog" in e["type"]], "secrets in the event stream")
    srv.close()
    # the proxy has exited: its collector wrote every line before stopping
    check(os.stat(logs["proxy"]).st_mode & 0o777 == 0o600, oct(os.stat(logs["proxy"]).st_mode))
    proxy, client, origin = (keylines(logs[k]) for k in ("proxy", "curl", "origin"))
    labels = {l.split()[0] for l in proxy}
    check(labels == {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                     "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"}, labels)
    check(len(proxy) == 8, "4 secrets for each of the 2 sessions: %s" % proxy)
    check(client and origin and proxy == client | origin,
          "proxy only: %s\nclient only: %s\norigin only: %s" %
          (proxy - client - origin, client - proxy, origin - proxy))


def test_idle_intercepted_connections_hold_no_send_memory():
    """Registered send chunks are held only while bytes are waiting to go
    out: 40 idle keep-alive intercepted connections hold none, and each can
    still be used afterwards."""
    crt, key = LAB.leaf("idle")
    srv = tls_server(crt, key, alpn=["http/1.1"])
    with mitm_proxy(ADMIN, threads=1) as p:
        port = admin_port(p)
        ctx = ssl.create_default_context(cafile=p.ca)
        conns = []
        for i in range(40):
            s, status, _ = connect_via(p.port, "localhost:%d" % srv.port)
            check(" 200 " in status, status)
            t = ctx.wrap_socket(s, server_hostname="localhost")
            t.sendall(b"GET /c%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % i)
            st, _, body = http_response(t)
            check(st == 200 and body.endswith(b"path=/c%d body=0\n" % i), (st, body))
            conns.append(t)
        m = parse(scrape(port))
        check(total(m, "soth_connections_open") == 40, total(m, "soth_connections_open"))
        check(total(m, "soth_send_chunks_in_use") == 0,
              "idle connections hold %s chunks" % total(m, "soth_send_chunks_in_use"))
        for i, t in enumerate(conns):  # chunks are taken again when there is work
            t.sendall(b"GET /again%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % i)
            st, _, body = http_response(t)
            check(st == 200 and body.endswith(b"path=/again%d body=0\n" % i), (st, body))
            t.close()
        check(total(parse(scrape(port)), "soth_send_chunks_exhausted_total") == 0, "exhausted")
    srv.close()


def corporate_ca(cadir, key_args, exts=()):
    """An externally made CA placed in cadir as ca.key (0600) and ca.pem, the
    way an operator brings a corporate root."""
    os.makedirs(cadir, mode=0o700)
    key, crt = os.path.join(cadir, "ca.key"), os.path.join(cadir, "ca.pem")
    subprocess.run(["openssl", "genpkey"] + list(key_args) + ["-out", key], check=True,
                   capture_output=True, timeout=DEADLINE)
    os.chmod(key, 0o600)
    cmd = ["openssl", "req", "-x509", "-key", key, "-out", crt, "-days", "30",
           "-subj", "/C=XX/O=Example Corp/OU=Security/CN=Example Corp Interception Root",
           "-addext", "basicConstraints=critical,CA:TRUE",
           "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    for e in exts:
        cmd += ["-addext", e]
    subprocess.run(cmd, check=True, capture_output=True, timeout=DEADLINE)
    return crt


def test_rsa_ca_signs_leaves():
    """A corporate RSA root as the interception CA: leaves (ECDSA P-256
    keys) are signed with the CA's RSA key and curl trusts them, over TLS
    1.3 and 1.2; a CA without a subjectKeyIdentifier works too."""
    crt, key = LAB.leaf("good")
    srv = tls_server(crt, key, alpn=["http/1.1"])
    cases = [(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], ()),
             (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
              ("subjectKeyIdentifier=none", "authorityKeyIdentifier=none"))]
    for key_args, exts in cases:
        cadir = os.path.join(tempfile.mkdtemp(), "ca")
        ca = corporate_ca(cadir, key_args, exts)
        args = ["--set", "default_action=intercept", "--ca-dir", cadir, "--upstream-ca", LAB.ca,
                "--set", "tls.system_ca="]
        with Proxy(args=args, threads=1) as p:
            p.ca = ca
            url = "https://localhost:%d/x" % srv.port
            for tls in ([], ["--tls-max", "1.2"]):
                out = curl(p, *(tls + [url]))
                check(out.stdout.endswith(b"path=/x body=0\n"), out.stdout)
            # the leaf as a client sees it: signed by the RSA CA
            s, status, _ = connect_via(p.port, "localhost:%d" % srv.port)
            check(" 200 " in status, status)
            ctx = ssl.create_default_context(cafile=ca)
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                der = t.getpeercert(binary_form=True)
            text = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-text"],
                                  input=der, capture_output=True, timeout=DEADLINE).stdout.decode()
            check("sha256WithRSAEncryption" in text and "prime256v1" in text, text)
            check(("Authority Key Identifier" in text) == (not exts), text)
            check("Issuer: C = XX, O = Example Corp" in text, text)
    srv.close()


def test_upstream_close_is_passed_to_the_client():
    """An upstream that ends its connection after a response (chunked body
    with Connection: close): the client is told to close too, so its next
    request goes on a new connection instead of hanging."""
    crt, key = LAB.leaf("uclose")

    def h(c):
        req = b""
        while b"\r\n\r\n" not in req:
            b = c.recv(4096)
            if not b:
                return
            req += b
        path = req.split(b" ")[1]
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                  b"%x\r\n%s\r\n0\r\n\r\n" % (len(path), path))
    srv = tls_server(crt, key, handler=h, alpn=["http/1.1"])
    with mitm_proxy(threads=1) as p:
        url = "https://localhost:%d" % srv.port
        out = curl(p, "-v", url + "/one", url + "/two")
        check(out.stdout == b"/one/two", out.stdout)
        check(b"Connection: close" in out.stderr, out.stderr)
        evs = p.wait_closed(2)
        check([e["status"] for e in evs if e["type"] == "http_response"] == [200, 200], evs)
    srv.close()


if __name__ == "__main__":
    run_tests([test_intercepted_requests_and_events, test_rsa_ca_signs_leaves, test_server_side_failures_are_classified,
               test_client_side_failures_are_classified,
               test_ip_literal_targets_are_verified_against_ip_sans,
               test_non_tls_after_connect_is_tunnelled_or_refused,
               test_records_to_the_client_start_small_then_grow,
               test_keylog_holds_the_secrets_of_both_sessions,
               test_idle_intercepted_connections_hold_no_send_memory,
               test_upstream_close_is_passed_to_the_client])
