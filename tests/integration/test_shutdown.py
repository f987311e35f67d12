"""Graceful shutdown: SIGTERM stops accepting, lets in-flight flows finish,
closes what is left after the grace period, exits 0."""
import socket
import threading
import time

from smlib import DEADLINE, Proxy, Server, check, connect_via, read_all, run_tests


def test_sigterm_lets_inflight_flow_finish():
    release = threading.Event()

    def h(c):
        c.sendall(b"first half|")
        release.wait(DEADLINE)
        c.sendall(b"second half")
    srv = Server(h)
    p = Proxy(args=["--set", "timeouts.shutdown_grace_ms=20000"])
    try:
        s, status, head = connect_via(p.port, "127.0.0.1:%d" % srv.port)
        check(status.startswith("HTTP/1.1 200"), status)
        got = head.split(b"\r\n\r\n", 1)[1]
        while b"|" not in got:
            got += s.recv(100)
        p.proc.send_signal(15)
        p.wait_events(lambda evs: True, "nothing")  # events file readable
        # new clients are refused once the proxy drains
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                c = socket.create_connection(("127.0.0.1", p.port), timeout=1)
                c.close()
            except ConnectionRefusedError:
                break
            check(time.monotonic() < deadline, "listener still accepting after SIGTERM")
            time.sleep(0.02)
        check(p.proc.poll() is None, "proxy exited with a flow in flight")
        release.set()
        got += read_all(s)
        s.close()
        check(got == b"first half|second half", got)
        rc = p.stop()
        check(rc == 0, "exit code %s" % rc)
        evs = p.events()
        # probe connections made while draining carry no bytes
        closed = [e for e in evs if e["type"] == "flow_closed" and e["bytes_up"] > 0]
        check(len(closed) == 1 and closed[0]["reason"] == "done", closed)
        check(closed[0]["bytes_down"] == len(got), closed)
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
        srv.close()


def test_grace_period_closes_idle_flows_with_reason_shutdown():
    hold = threading.Event()

    def h(c):
        hold.wait(DEADLINE)
    srv = Server(h)
    p = Proxy(args=["--set", "timeouts.shutdown_grace_ms=300"])
    try:
        s, status, _ = connect_via(p.port, "127.0.0.1:%d" % srv.port)
        check(status.startswith("HTTP/1.1 200"), status)
        t0 = time.monotonic()
        rc = p.stop()
        elapsed = time.monotonic() - t0
        check(rc == 0, "exit code %s" % rc)
        check(elapsed < DEADLINE, "took %.1fs" % elapsed)
        check(read_all(s) == b"", "client sees the tunnel end")
        evs = p.events()
        closed = [e for e in evs if e["type"] == "flow_closed"]
        check(len(closed) == 1 and closed[0]["reason"] == "shutdown", closed)
    finally:
        hold.set()
        if p.proc.poll() is None:
            p.proc.kill()
        srv.close()


if __name__ == "__main__":
    run_tests([test_sigterm_lets_inflight_flow_finish,
               test_grace_period_closes_idle_flows_with_reason_shutdown])
