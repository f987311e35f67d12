"""gRPC through intercepted TLS (python3-grpcio client and server, HTTP/2 on
both sides): unary, server streaming, client streaming, bidi and an error
status all work, and every message and status is observed."""
import os
from concurrent import futures

import grpc

from smlib import DEADLINE, Proxy, check, check_event_order, run_tests
from tlslab import Lab

LAB = Lab()
SVC = "soth.test.Echo"


# grpcio percent-encodes this on the wire (%C3%A9, %25, %E2%9C%93...)
ODD_DETAILS = "bad input: café 100% ✓ (tab\there)"


def unary(req, ctx):
    if req == b"fail":
        ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    if req == b"odd":
        ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, ODD_DETAILS)
    return b"echo:" + req


def server_stream(req, ctx):
    for i in range(3):
        yield b"%s-%d" % (req, i)


def client_stream(it, ctx):
    return b"+".join(it)


def bidi(it, ctx):
    for m in it:
        yield m.upper()


def start_server(compression=None):
    crt, key = LAB.leaf("grpc")
    with open(crt, "rb") as f:
        c = f.read()
    with open(key, "rb") as f:
        k = f.read()
    handlers = grpc.method_handlers_generic_handler(SVC, {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    })
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[handlers],
                      compression=compression)
    port = srv.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(k, c)]))
    srv.start()
    return srv, port


def test_grpc_calls_through_the_proxy_are_observed():
    srv, port = start_server()
    cadir = os.path.join(LAB.dir, "ca")
    with Proxy(args=["--set", "default_action=intercept", "--ca-dir", cadir, "--upstream-ca",
                     LAB.ca, "--set", "tls.system_ca="], threads=1) as p:
        with open(os.path.join(cadir, "ca.pem"), "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        ch = grpc.secure_channel("localhost:%d" % port, creds,
                                 options=[("grpc.http_proxy", "http://127.0.0.1:%d" % p.port),
                                          ("grpc.enable_http_proxy", 1)])
        u = ch.unary_unary("/%s/Unary" % SVC)
        ss = ch.unary_stream("/%s/ServerStream" % SVC)
        cs = ch.stream_unary("/%s/ClientStream" % SVC)
        bd = ch.stream_stream("/%s/Bidi" % SVC)
        check(u(b"hi", timeout=DEADLINE) == b"echo:hi", "unary")
        check(list(ss(b"s", timeout=DEADLINE)) == [b"s-0", b"s-1", b"s-2"], "server streaming")
        check(cs(iter([b"a", b"b", b"c"]), timeout=DEADLINE) == b"a+b+c", "client streaming")
        check(list(bd(iter([b"x", b"y"]), timeout=DEADLINE)) == [b"X", b"Y"], "bidi")
        # more calls than the 16 observed stream directions: slots are reused
        for i in range(20):
            check(u(b"r%d" % i, timeout=DEADLINE) == b"echo:r%d" % i, "call %d" % i)
        try:
            u(b"fail", timeout=DEADLINE)
            check(False, "expected NOT_FOUND")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.NOT_FOUND and e.details() == "no such thing", e)
        ch.close()
        evs = p.wait_events(lambda evs: sum(e["type"] == "grpc_status" for e in evs) >= 25,
                            "25 grpc_status events")
        check_event_order([e for e in evs])
        msgs = [(e["dir"], e["excerpt"]) for e in evs if e["type"] == "grpc_message"]
        c, s = "client_to_server", "server_to_client"
        for want in [(c, "hi"), (s, "echo:hi"), (s, "s-0"), (s, "s-2"), (c, "a"), (c, "c"),
                     (s, "a+b+c"), (c, "x"), (s, "Y"), (c, "fail")]:
            check(want in msgs, "%s not observed in %s" % (want, msgs))
        st = sorted(e["grpc_status"] for e in evs if e["type"] == "grpc_status")
        check(st == [0] * 24 + [5], "statuses %s" % st)
        check((c, "r19") in msgs and (s, "echo:r19") in msgs, "the 20th call is still observed")
        nf = [e for e in evs if e["type"] == "grpc_status" and e["grpc_status"] == 5]
        check(nf[0]["grpc_message"] == "no such thing", nf)
    srv.stop(0)


def test_gzip_compressed_messages_are_decoded():
    """grpcio with Gzip on both sides: every message crosses compressed
    (compressed flag, grpc-encoding gzip) and grpc_message events show the
    decoded bytes, with the wire length and the decoded length."""
    srv, port = start_server(grpc.Compression.Gzip)
    cadir = os.path.join(LAB.dir, "ca")
    with Proxy(args=["--set", "default_action=intercept", "--ca-dir", cadir, "--upstream-ca",
                     LAB.ca, "--set", "tls.system_ca="], threads=1) as p:
        with open(os.path.join(cadir, "ca.pem"), "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        ch = grpc.secure_channel("localhost:%d" % port, creds, compression=grpc.Compression.Gzip,
                                 options=[("grpc.http_proxy", "http://127.0.0.1:%d" % p.port),
                                          ("grpc.enable_http_proxy", 1)])
        u = ch.unary_unary("/%s/Unary" % SVC)
        bd = ch.stream_stream("/%s/Bidi" % SVC)
        big = b"squeeze this grpc message please " * 40
        check(u(big, timeout=DEADLINE) == b"echo:" + big, "unary through gzip")
        msgs = [b"first %s" % (b"a" * 500), b"second %s" % (b"b" * 700)]
        check(list(bd(iter(msgs), timeout=DEADLINE)) == [m.upper() for m in msgs], "bidi")
        ch.close()
        evs = p.wait_events(lambda evs: sum(e["type"] == "grpc_status" for e in evs) >= 2,
                            "2 grpc_status events")
        check_event_order(evs)
        gm = [e for e in evs if e["type"] == "grpc_message"]
        check(len(gm) == 6, gm)
        check(all(e["compressed"] == 1 for e in gm), "all sent compressed: %s" % gm)
        check(not [e for e in evs if e["type"] == "parse_error"], evs)
        c, s = "client_to_server", "server_to_client"
        want = [(c, big), (s, b"echo:" + big), (c, msgs[0]), (c, msgs[1]), (s, msgs[0].upper()),
                (s, msgs[1].upper())]
        for d, m in want:
            ok = [e for e in gm if e["dir"] == d and e["decoded_length"] == len(m) and
                  e["excerpt"] == m[:64].decode() and e["length"] < len(m)]
            check(ok, "%s %r... not observed decoded in %s" % (d, m[:20], gm))
    srv.stop(0)


def test_large_message_then_small_and_decoded_status():
    """With observe.max_message_bytes=65536, a 100,000-byte message is
    reported with its length (too_large 1, no excerpt, a non-fatal
    parse_error at its envelope) and the small message after it on the same
    stream still is, both ways; a status message with non-ASCII, spaces and
    '%' comes out of grpc_status decoded, not in its percent-encoded wire
    form."""
    srv, port = start_server()
    cadir = os.path.join(LAB.dir, "ca")
    with Proxy(args=["--set", "default_action=intercept", "--ca-dir", cadir, "--upstream-ca",
                     LAB.ca, "--set", "tls.system_ca=", "--set",
                     "observe.max_message_bytes=65536"], threads=1) as p:
        with open(os.path.join(cadir, "ca.pem"), "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        ch = grpc.secure_channel("localhost:%d" % port, creds,
                                 options=[("grpc.http_proxy", "http://127.0.0.1:%d" % p.port),
                                          ("grpc.enable_http_proxy", 1)])
        bd = ch.stream_stream("/%s/Bidi" % SVC)
        u = ch.unary_unary("/%s/Unary" % SVC)
        big = b"l" * 100000
        out = list(bd(iter([big, b"small"]), timeout=DEADLINE))
        check(out == [big.upper(), b"SMALL"], "bidi relayed intact")
        try:
            u(b"odd", timeout=DEADLINE)
            check(False, "expected INVALID_ARGUMENT")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and e.details() == ODD_DETAILS, e)
        ch.close()
        evs = p.wait_events(lambda evs: sum(e["type"] == "grpc_status" for e in evs) >= 2,
                            "2 grpc_status events")
        check_event_order(evs)
        c, s = "client_to_server", "server_to_client"
        gm = [(e["dir"], e["length"], e.get("too_large"), e["decoded_length"], e["excerpt"])
              for e in evs if e["type"] == "grpc_message"]
        for d, m in ((c, "small"), (s, "SMALL")):
            want = [(d, 100000, 1, 100000, ""), (d, len(m), 0, len(m), m)]
            got = [g for g in gm if g[0] == d and g[4] != "odd"]
            check(got == want, "%s: %s, want %s" % (d, got, want))
        errs = sorted((e["dir"], e["stage"], e["module"], e["reason"], e["fatal"]) for e in evs
                      if e["type"] == "parse_error")
        check(errs == [(c, "framing", "grpc", "too_large", 0), (s, "framing", "grpc", "too_large", 0)],
              errs)
        check(not [e for e in evs if e["type"] == "payload"], "no raw fallback: %s" % evs)
        st = [e for e in evs if e["type"] == "grpc_status" and e["grpc_status"] == 3]
        check(len(st) == 1 and st[0]["grpc_message"] == ODD_DETAILS, st)
    srv.stop(0)


if __name__ == "__main__":
    run_tests([test_grpc_calls_through_the_proxy_are_observed,
               test_gzip_compressed_messages_are_decoded,
               test_large_message_then_small_and_decoded_status])
