"""Policy decisions and upstream failures seen by a real client: block rules
(host, dest after DNS), allow_clients, DNS failure, refused and timed-out
connects. Names resolve through a fake DNS server on loopback."""
import socket
import subprocess

from smlib import (DEADLINE, FakeDNS, Proxy, Server, check, check_event_order, connect_via,
                   http_response, listen, read_all, run_tests)


def echo(c):
    c.sendall(read_all(c))


def error_reply(p, target):
    s, status, head = connect_via(p.port, target)
    rest = head.split(b"\r\n\r\n", 1)[1]
    body = rest + read_all(s)
    s.close()
    return status, head, body


def test_block_rule_answers_403_and_upstream_sees_nothing():
    srv = Server(echo)
    dns = FakeDNS({"api.blocked.test": ["127.0.0.1"], "ok.test": ["127.0.0.1"]})
    cfg = """
default_action: tunnel
dns_servers: "%s"
rules:
  - { host: "*.blocked.test", action: block, name: "no-blocked" }
""" % dns.server
    with Proxy(cfg) as p:
        status, head, body = error_reply(p, "api.blocked.test:%d" % srv.port)
        check(status.startswith("HTTP/1.1 403"), status)
        check(b"Connection: close" in head, head)
        check(b"rules[0]" in body and b"*.blocked.test" in body, "403 body must name the rule: %r" % body)
        check(b'"no-blocked"' in body, "403 body must give the rule's name: %r" % body)
        # an allowed name through the same proxy still works
        s, status, _ = connect_via(p.port, "ok.test:%d" % srv.port)
        check(status.startswith("HTTP/1.1 200"), status)
        s.sendall(b"ping")
        s.shutdown(socket.SHUT_WR)
        check(read_all(s) == b"ping", "echo through allowed tunnel")
        s.close()
        evs = p.wait_closed(2)
        check_event_order(evs)
        dec = [e for e in evs if e["type"] == "connect_decision"]
        check(dec[0]["action"] == "block" and dec[0]["rule"] == 0 and
              dec[0]["rule_name"] == "no-blocked", dec[0])
        check(dec[1]["action"] == "tunnel" and dec[1]["rule"] == -1 and
              dec[1].get("rule_name", "") == "", dec[1])
        closed = [e["reason"] for e in evs if e["type"] == "flow_closed"]
        check(sorted(closed) == ["blocked", "done"], closed)
        check(srv.accepted == 1, "upstream saw %d connections, expected only the allowed one" % srv.accepted)
        check(("api.blocked.test", 1) not in dns.queries, "a pre-DNS block must not resolve")
    srv.close()
    dns.close()


def test_request_rule_names_itself_in_the_403_and_its_event():
    got = []

    def origin(c):
        while True:
            data = b""
            while b"\r\n\r\n" not in data:
                b = c.recv(4096)
                if not b:
                    return
                data += b
            got.append(data)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    srv = Server(origin)
    cfg = ("default_action: tunnel\nrules:\n"
           '  - { host: "127.0.0.1", method: POST, path: "/admin*", action: block, '
           'name: "no-admin-writes" }\n')
    with Proxy(cfg) as p:
        s = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
        s.sendall(b"GET http://127.0.0.1:%d/admin/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % srv.port)
        status, _, body = http_response(s)
        check(status == 200 and body == b"ok", (status, body))
        s.sendall(b"POST http://127.0.0.1:%d/admin/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Length: 0\r\n\r\n" % srv.port)
        status, _, body = http_response(s)
        s.close()
        check(status == 403 and b'"no-admin-writes"' in body and b"method POST" in body,
              (status, body))
        evs = p.wait_closed(1)
        dec = [(e["action"], e["rule"], e["rule_name"]) for e in evs
               if e["type"] == "request_decision"]
        check(dec == [("block", 0, "no-admin-writes")], dec)
        check(len(got) == 1, "the blocked request reached the origin: %s" % got)
    srv.close()


def test_dest_rule_refuses_name_resolving_into_forbidden_range():
    srv = Server(echo, host="127.0.0.2")
    dns = FakeDNS({"sneaky.test": ["127.0.0.2"]})
    cfg = """
default_action: tunnel
dns_servers: "%s"
rules:
  - { dest: "127.0.0.2/32", action: block }
""" % dns.server
    with Proxy(cfg) as p:
        status, _, body = error_reply(p, "sneaky.test:%d" % srv.port)
        check(status.startswith("HTTP/1.1 403"), status)
        check(b"127.0.0.2/32" in body, body)
        evs = p.wait_closed(1)
        check(("sneaky.test", 1) in dns.queries, "the name must have been resolved")
        check(srv.accepted == 0, "upstream must never see a connection")
        check([e for e in evs if e["type"] == "flow_closed"][0]["reason"] == "blocked", evs[-1])
    srv.close()
    dns.close()


def test_clients_outside_allow_clients_get_403():
    srv = Server(echo)
    with Proxy('allow_clients: ["10.0.0.0/8"]\n') as p:
        status, _, body = error_reply(p, "127.0.0.1:%d" % srv.port)
        check(status.startswith("HTTP/1.1 403"), status)
        check(b"allow_clients" in body, body)
        evs = p.wait_closed(1)
        check(evs[-1]["reason"] == "client_not_allowed", evs[-1])
        check(srv.accepted == 0, "upstream contacted for a denied client")
    srv.close()


def test_dns_failure_answers_502_naming_the_reason():
    dns = FakeDNS({})
    with Proxy('dns_servers: "%s"\n' % dns.server) as p:
        status, _, body = error_reply(p, "nowhere.invalid.test:443")
        check(status.startswith("HTTP/1.1 502"), status)
        check(b"DNS" in body and b"nowhere.invalid.test" in body and b"NXDOMAIN" in body, body)
        evs = p.wait_closed(1)
        failed = [e for e in evs if e["type"] == "upstream_failed"]
        check(failed and failed[0]["reason"] == "dns_nxdomain", failed)
        check(evs[-1]["reason"] == "dns_failed", evs[-1])
    dns.close()


def test_refused_connect_answers_502():
    s = listen()
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with Proxy() as p:
        status, _, body = error_reply(p, "127.0.0.1:%d" % port)
        check(status.startswith("HTTP/1.1 502"), status)
        check(b"refused" in body, body)
        evs = p.wait_closed(1)
        check([e for e in evs if e["type"] == "upstream_failed"][0]["reason"] == "connect_refused", evs)
        check(evs[-1]["reason"] == "connect_refused", evs[-1])


def test_connect_timeout_answers_504():
    # a listener with a full accept queue drops further SYNs: connects hang
    s = listen(backlog=0)
    port = s.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    with Proxy(args=["--set", "timeouts.connect_timeout_ms=300"]) as p:
        status, _, body = error_reply(p, "127.0.0.1:%d" % port)
        check(status.startswith("HTTP/1.1 504"), status)
        check(b"300 ms" in body, body)
        evs = p.wait_closed(1)
        check(evs[-1]["reason"] == "connect_timeout", evs[-1])
    for c in fillers:
        c.close()
    s.close()


def test_malformed_connect_targets_answer_400():
    with Proxy() as p:
        for target in ["example.test", "example.test:0", "example.test:65536", "[::1:443",
                       "exa mple.test:443", "a..b:443"]:
            status, _, body = error_reply(p, target)
            check(status.startswith("HTTP/1.1 400"), "%s -> %s" % (target, status))
        p.wait_closed(6)


def test_oversized_head_answers_431():
    with Proxy(args=["--set", "limits.max_header_bytes=2048"]) as p:
        s = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
        s.sendall(b"CONNECT a.test:443 HTTP/1.1\r\nX-Big: " + b"a" * 4000 + b"\r\n\r\n")
        status, _, body = http_response(s)
        check(status == 431, status)
        s.close()
        p.wait_closed(1)


if __name__ == "__main__":
    run_tests([test_block_rule_answers_403_and_upstream_sees_nothing,
               test_request_rule_names_itself_in_the_403_and_its_event,
               test_dest_rule_refuses_name_resolving_into_forbidden_range,
               test_clients_outside_allow_clients_get_403,
               test_dns_failure_answers_502_naming_the_reason,
               test_refused_connect_answers_502, test_connect_timeout_answers_504,
               test_malformed_connect_targets_answer_400, test_oversized_head_answers_431])
