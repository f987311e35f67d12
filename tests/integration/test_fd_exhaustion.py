"""Descriptor exhaustion: idle clients fill RLIMIT_NOFILE. The proxy pauses
accepting (it used to re-arm into EMFILE and spin both cores), counts each
failure by errno, and serves the clients that waited in the backlog as soon
as descriptors are freed."""
import os
import socket

from smlib import (ADMIN, DEADLINE, Proxy, Server, admin_port, check, http_response, parse,
                   run_tests, scrape, total)
import time

LIMIT = 64


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def wait_for(pred, what):
    end = time.monotonic() + DEADLINE
    while not pred():
        check(time.monotonic() < end, "timed out waiting for %s" % what)
        time.sleep(0.01)


def test_full_descriptor_table_pauses_accepting_and_recovers():
    def origin(c):
        req = b""
        while b"\r\n\r\n" not in req:
            b = c.recv(4096)
            if not b:
                return
            req += b
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    srv = Server(origin)
    p = Proxy(args=ADMIN, threads=1, nofile=LIMIT)
    idle = []
    try:
        check(any("open files: up to %d " % LIMIT in l for l in p.stderr_lines),
              "the limit is not reported: %s" % "".join(p.stderr_lines))
        aport = admin_port(p)
        before = parse(scrape(aport))
        check(total(before, "soth_accept_errors_total") == 0, "errors before the test")
        pid = p.proc.pid
        # more idle clients than descriptors: the kernel queues the rest
        for _ in range(LIMIT):
            idle.append(socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE))
        wait_for(lambda: fds(pid) >= LIMIT, "the descriptor table to fill")
        # a client that arrives now waits in the backlog
        probe = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
        probe.sendall(b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                      % (srv.port, srv.port))
        for s in idle:
            s.close()
        idle = []
        status, _, body = http_response(probe)
        check(status == 200 and body == b"ok", (status, body))
        probe.close()
        m = parse(scrape(aport))
        emfile = total(m, "soth_accept_errors_total", errno="EMFILE")
        pauses = total(m, "soth_accept_pauses_total")
        check(emfile >= 1, "EMFILE not counted")
        # one listener: every failure paused it, and a paused listener has
        # no accept armed to fail again (a spin makes errors >> pauses)
        check(emfile == pauses, "errors %d, pauses %d" % (emfile, pauses))
        check(p.proc.poll() is None, "the proxy exited")
    finally:
        for s in idle:
            s.close()
        rc = p.stop()
        srv.close()
    check(rc == 0, "exit %s" % rc)


if __name__ == "__main__":
    run_tests([test_full_descriptor_table_pauses_accepting_and_recovers])
