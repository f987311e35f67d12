"""SIGHUP reloads the configuration without dropping a flow: new
connections follow the new file, running ones keep theirs, a bad file or a
change only a restart can make leaves everything as it was, and a transfer
in flight across reloads arrives whole."""
import os
import signal
import socket
import threading
import time

from smlib import (ADMIN, DEADLINE, Proxy, Server, admin_port, check, http_response, parse,
                   read_all, run_tests, scrape, total)

RULE = ('default_action: tunnel\nrules:\n'
        '  - { host: "127.0.0.1", path: "/%s*", action: block, name: "%s" }\n')


def origin(c):
    """Answers every request on the connection with its path."""
    data = b""
    while True:
        while b"\r\n\r\n" not in data:
            b = c.recv(4096)
            if not b:
                return
            data += b
        head, data = data.split(b"\r\n\r\n", 1)
        path = head.split(b" ")[1]
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(path), path))


def get(s, port, path):
    s.sendall(b"GET http://127.0.0.1:%d%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" %
              (port, path.encode(), port))
    return http_response(s)[0]


def hup(p, n):
    """SIGHUP, then waits for the n-th reload line (reloaded, failed or refused)."""
    p.proc.send_signal(signal.SIGHUP)
    end = time.monotonic() + DEADLINE
    while sum("SIGHUP: " in l for l in p.stderr_lines) < n:
        check(time.monotonic() < end, "no answer to SIGHUP: %s" % "".join(p.stderr_lines))
        check(p.proc.poll() is None, "SIGHUP ended the proxy: %s" % p.proc.returncode)
        time.sleep(0.01)
    return [l for l in p.stderr_lines if "SIGHUP: " in l][n - 1]


def connect(p):
    return socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)


def test_new_connections_follow_the_reload_running_ones_keep_theirs():
    srv = Server(origin)
    p = Proxy(RULE % ("one", "first"), args=ADMIN)
    path = os.path.join(p.dir, "config.yaml")
    try:
        old = connect(p)
        check(get(old, srv.port, "/one") == 403, "the first rule blocks /one")
        old.close()
        old = connect(p)
        check(get(old, srv.port, "/two") == 200, "/two passes")
        with open(path, "w") as f:
            f.write(RULE % ("two", "second"))
        line = hup(p, 1)
        check("reloaded" in line and "configuration 1" in line, line)
        new = connect(p)
        check(get(new, srv.port, "/two") == 403, "a new connection follows the new rule")
        check(get(old, srv.port, "/two") == 200, "a running connection keeps its rules")
        new.close()
        new = connect(p)
        check(get(new, srv.port, "/one") == 200, "the old rule is gone for new connections")
        new.close()
        old.close()

        # a file that does not load: refused, the running configuration stays
        with open(path, "w") as f:
            f.write("rules: [\n")
        line = hup(p, 2)
        check("reload failed" in line and "config.yaml:" in line, line)
        s = connect(p)
        check(get(s, srv.port, "/two") == 403, "still the second rule")
        s.close()
        # what only a restart can change: refused, naming it
        with open(path, "w") as f:
            f.write(RULE % ("one", "third") + "limits:\n  event_ring_size: 128\n")
        line = hup(p, 3)
        check("refused" in line and "limits.event_ring_size" in line, line)
        for path_, want in (("/two", 403), ("/one", 200)):
            s = connect(p)
            check(get(s, srv.port, path_) == want, "nothing of the refused file applies")
            s.close()
        m = parse(scrape(admin_port(p)))
        check(total(m, "soth_config_epoch") == 1, total(m, "soth_config_epoch"))
        check(total(m, "soth_config_reloads_total", result="ok") == 1, "ok count")
        check(total(m, "soth_config_reloads_total", result="failed") == 2, "failed count")
        evs = p.wait_closed(7)
        names = [e["rule_name"] for e in evs if e["type"] == "request_decision"]
        check(names[0] == "first" and "second" in names, names)
    finally:
        rc = p.stop()
        srv.close()
    check(rc == 0, "exit %s after reloads" % rc)


def test_transfers_in_flight_survive_reloads():
    """A tunnel and an HTTP response stream through 20 reloads whole."""
    gate = threading.Event()
    chunk = bytes(range(256)) * 64  # 16 KiB

    def slow(c):
        c.recv(4096)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (len(chunk) * 40))
        for k in range(40):
            if k == 20:
                gate.wait(DEADLINE)
            c.sendall(chunk)

    def echo(c):
        c.sendall(read_all(c))
    srv, esrv = Server(slow), Server(echo)
    p = Proxy("default_action: tunnel\n")
    path = os.path.join(p.dir, "config.yaml")
    try:
        h = connect(p)
        h.sendall(b"GET http://127.0.0.1:%d/big HTTP/1.1\r\nHost: x\r\n\r\n" % srv.port)
        t = connect(p)
        t.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % esrv.port)
        head = b""
        while b"\r\n\r\n" not in head:
            head += t.recv(4096)
        check(b" 200 " in head, head)
        sent = b""
        for k in range(20):
            with open(path, "w") as f:
                f.write("default_action: tunnel\ntimeouts:\n  idle_timeout_ms: %d\n" %
                        (300000 + k))
            line = hup(p, k + 1)
            check("reloaded" in line, line)
            piece = b"%d:" % k * 100
            t.sendall(piece)
            sent += piece
        gate.set()
        t.shutdown(socket.SHUT_WR)
        check(read_all(t) == sent, "the tunnel lost bytes across reloads")
        status, _, body = http_response(h)
        check(status == 200 and body == chunk * 40, "the response lost bytes across reloads")
        h.close()
        t.close()
        evs = p.wait_closed(2)
        closed = [e["reason"] for e in evs if e["type"] == "flow_closed"]
        check(sorted(closed) == ["done", "done"], closed)
    finally:
        rc = p.stop()
        srv.close()
        esrv.close()
    check(rc == 0, "exit %s" % rc)


if __name__ == "__main__":
    run_tests([test_new_connections_follow_the_reload_running_ones_keep_theirs,
               test_transfers_in_flight_survive_reloads])
