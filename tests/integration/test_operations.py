"""The operator's conventions: `soth-mitm check`, systemd's notify protocol
(READY, RELOADING, STOPPING), /readyz turning 503 before the listeners close
(timeouts.drain_delay_ms), a second SIGTERM ending the drain at once, and
SIGUSR1 reopening the events file for log rotation."""
import os
import signal
import socket
import subprocess
import threading
import time

from smlib import (ADMIN, BIN, DEADLINE, Proxy, Server, admin_port, check, connect_via, get,
                   read_all, run_tests)


def test_check_prints_the_effective_configuration_or_the_error():
    path = "/tmp/sm-check-%d.yaml" % os.getpid()
    with open(path, "w") as f:
        f.write('rules:\n  - { host: "*.ads.test", action: block, name: "no-ads" }\n')
    try:
        out = subprocess.run([BIN, "check", "--config", path, "--set",
                              "timeouts.idle_timeout_ms=1234"],
                             capture_output=True, timeout=DEADLINE)
        check(out.returncode == 0, out)
        text = out.stdout.decode()
        check("is valid" in text and "timeouts.idle_timeout_ms: 1234\n" in text, text)
        check('rules[0] "no-ads" host "*.ads.test" -> block' in text, text)
        check("listen: [\"127.0.0.1:8080\"]" in text, text)
        with open(path, "w") as f:
            f.write("rules:\n  - { host: a.test }\n")
        out = subprocess.run([BIN, "check", "--config", path], capture_output=True,
                             timeout=DEADLINE)
        check(out.returncode == 2 and b'missing required key "action"' in out.stderr, out)
        check(out.stdout == b"", out.stdout)
    finally:
        os.unlink(path)


def test_systemd_notify_ready_reloading_stopping():
    path = "/tmp/sm-notify-%d.sock" % os.getpid()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(DEADLINE)
    try:
        p = Proxy(env={"NOTIFY_SOCKET": path})
        msg = sock.recv(4096).decode()
        check(msg.startswith("READY=1") and "MAINPID=%d" % p.proc.pid in msg, msg)
        p.proc.send_signal(signal.SIGHUP)
        msg = sock.recv(4096).decode()
        check(msg.startswith("RELOADING=1\nMONOTONIC_USEC="), msg)
        usec = int(msg.split("MONOTONIC_USEC=")[1])
        check(abs(usec / 1e6 - time.monotonic()) < DEADLINE, "MONOTONIC_USEC is CLOCK_MONOTONIC")
        check(sock.recv(4096) == b"READY=1", "READY after the reload")
        p.proc.send_signal(signal.SIGTERM)
        check(sock.recv(4096) == b"STOPPING=1", "STOPPING on SIGTERM")
        check(p.proc.wait(DEADLINE) == 0, "exit code")
    finally:
        sock.close()
        os.unlink(path)


def test_readyz_turns_503_before_the_listeners_close():
    p = Proxy(args=ADMIN + ["--set", "timeouts.drain_delay_ms=60000"])
    try:
        port = admin_port(p)
        check(get(port, "/readyz")[0] == 200, "ready")
        p.proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + DEADLINE
        while get(port, "/readyz")[0] != 503:
            check(time.monotonic() < end, "/readyz still 200 after SIGTERM")
            time.sleep(0.01)
        # the listeners still accept during the delay
        s = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
        s.sendall(b"GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while len(got) < 12:
            b = s.recv(12 - len(got))
            check(b, "closed during the delay")
            got += b
        check(got == b"HTTP/1.1 502", "served during the delay: %r" % got)
        s.close()
        check(p.proc.poll() is None, "still running in the delay")
        p.proc.send_signal(signal.SIGTERM)  # the second one cuts the delay and the drain
        check(p.proc.wait(DEADLINE) == 0, "exit code")
        check(any("stopping at once" in l for l in p.stderr_lines), p.stderr_lines)
    finally:
        if p.proc.poll() is None:
            p.proc.kill()


def test_second_sigterm_ends_the_drain_at_once():
    hold = threading.Event()

    def h(c):
        hold.wait(DEADLINE)
    srv = Server(h)
    p = Proxy(args=["--set", "timeouts.shutdown_grace_ms=600000"])
    try:
        s, status, _ = connect_via(p.port, "127.0.0.1:%d" % srv.port)
        check(status.startswith("HTTP/1.1 200"), status)
        p.proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + DEADLINE
        while not any("draining" in l for l in p.stderr_lines):
            check(time.monotonic() < end, "no drain")
            time.sleep(0.01)
        check(p.proc.poll() is None, "the drain waits for the tunnel")
        p.proc.send_signal(signal.SIGTERM)
        check(p.proc.wait(DEADLINE) == 0, "exit code")
        check(read_all(s) == b"", "the tunnel was closed")
        closed = [e["reason"] for e in p.events() if e["type"] == "flow_closed"]
        check(closed == ["shutdown"], closed)
    finally:
        hold.set()
        if p.proc.poll() is None:
            p.proc.kill()
        srv.close()


def test_sigusr1_rotation_loses_no_event_line():
    """logrotate's create + postrotate kill -USR1: the events written
    before the signal are in the renamed file, those after in the new one,
    none lost (each request's flow_closed counted)."""
    def origin(c):
        data = b""
        while b"\r\n\r\n" not in data:
            b = c.recv(4096)
            if not b:
                return
            data += b
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    srv = Server(origin)
    p = Proxy(args=ADMIN)
    n = 40
    try:
        aport = admin_port(p)
        for k in range(n):
            if k == n // 2:
                os.rename(p.events_path, p.events_path + ".1")
                p.proc.send_signal(signal.SIGUSR1)
                end = time.monotonic() + DEADLINE
                while not os.path.exists(p.events_path):
                    check(time.monotonic() < end, "the events file was not reopened")
                    time.sleep(0.01)
            s = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
            s.sendall(b"GET http://127.0.0.1:%d/%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                      % (srv.port, k))
            check(read_all(s).endswith(b"ok"), "request %d" % k)
            s.close()
        p.wait_closed(n - n // 2)  # the new file
        st, _, body = get(aport, "/metrics")
        check(b'soth_log_reopens_total{result="ok"} 1' in body, body[-600:])
        rc = p.stop()
        check(rc == 0, rc)

        def closed(path):
            with open(path) as f:
                return sum('"type":"flow_closed"' in line for line in f)
        old, new = closed(p.events_path + ".1"), closed(p.events_path)
        # flow_closed is in the ring before the client sees its EOF: the first
        # half is drained to the old file before the reopen
        check(old + new == n and old >= n // 2 and new >= 1, (old, new))
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
        srv.close()


if __name__ == "__main__":
    run_tests([test_check_prints_the_effective_configuration_or_the_error,
               test_systemd_notify_ready_reloading_stopping,
               test_readyz_turns_503_before_the_listeners_close,
               test_second_sigterm_ends_the_drain_at_once,
               test_sigusr1_rotation_loses_no_event_line])
