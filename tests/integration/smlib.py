"""Helpers for integration tests: start soth-mitm, local servers, a fake DNS.

Everything binds to 127.0.0.0/8 only. Every wait is bounded and waits on the
thing itself (a line on stderr, an event in the JSONL file, a socket).
"""
import json
import os
import select
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

BIN = os.environ.get("SM_BIN", "build/asan/soth-mitm")
SRC = os.environ.get("SM_SOURCE_DIR", os.getcwd())
DEADLINE = 30.0  # seconds any single wait may take


class Failure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class Proxy:
    """A soth-mitm process with its events file. Use as a context manager."""

    def __init__(self, config=None, args=(), threads=2, nofile=None, env=None):
        self.dir = tempfile.mkdtemp(prefix="sm-it-")
        self.events_path = os.path.join(self.dir, "events.jsonl")
        cmd = [BIN, "--listen", "127.0.0.1:0", "--threads", str(threads),
               "--events", self.events_path]
        if threads > len(os.sched_getaffinity(0)):
            cmd += ["--allow-oversubscribe"]  # the tests want two reactors, even on one CPU
        # the product intercepts by default; tests that are about tunnels say
        # so unless their config decides, and never touch the user's CA
        cmd += ["--ca-dir", os.path.join(self.dir, "ca")]
        if config is None or "default_action" not in config:
            cmd += ["--set", "default_action=tunnel"]
        if config is not None:
            path = os.path.join(self.dir, "config.yaml")
            with open(path, "w") as f:
                f.write(config)
            cmd += ["--config", path]
        cmd += list(args)
        self.stderr_path = os.path.join(self.dir, "stderr.txt")
        self.stderr_file = open(self.stderr_path, "w+")
        limit = None
        if nofile is not None:  # RLIMIT_NOFILE, soft and hard
            import resource
            limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=limit,
                                     env=dict(os.environ, **env) if env else None)
        self.port = None
        self.stderr_lines = []
        self._part = b""  # stderr bytes read, not a whole line yet
        end = time.monotonic() + DEADLINE
        seen = 0
        while self.port is None:
            for line in self.stderr_lines[seen:]:
                if "listening on 127.0.0.1:" in line:
                    self.port = int(line.split("127.0.0.1:")[1].split()[0])
                    break
            seen = len(self.stderr_lines)
            if self.port is not None:
                break
            left = end - time.monotonic()
            check(left > 0, "proxy did not report its listener in time")
            # the raw fd, not the buffered file: select must see every byte
            # (lines before the listener's, "building" and warnings, may come
            # in one read with it)
            r, _, _ = select.select([self.proc.stderr], [], [], left)
            if r and not self._read_stderr():
                raise Failure("proxy exited early: %s" % "".join(self.stderr_lines))
        # keep draining stderr so the proxy never blocks on a full pipe
        self._drain = threading.Thread(target=self._drain_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self):
        """Reads what stderr has into stderr_lines; False at its end."""
        data = os.read(self.proc.stderr.fileno(), 65536)
        if not data:
            if self._part:
                self.stderr_lines.append(self._part.decode(errors="replace"))
                self._part = b""
            return False
        *whole, self._part = (self._part + data).split(b"\n")
        self.stderr_lines += [w.decode(errors="replace") + "\n" for w in whole]
        return True

    def _drain_stderr(self):
        while self._read_stderr():
            pass

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def events(self):
        out = []
        try:
            with open(self.events_path) as f:
                for line in f:
                    if line.endswith("\n"):
                        out.append(json.loads(line))
        except FileNotFoundError:
            pass
        return out

    def wait_events(self, pred, what, timeout=DEADLINE):
        """Waits until pred(events) is true; returns the events."""
        end = time.monotonic() + timeout
        while True:
            evs = self.events()
            if pred(evs):
                return evs
            if time.monotonic() > end:
                raise Failure("timed out waiting for %s; events:\n%s" %
                              (what, "\n".join(json.dumps(e) for e in evs[-30:])))
            time.sleep(0.02)

    def wait_closed(self, n, timeout=DEADLINE):
        return self.wait_events(lambda evs: sum(e["type"] == "flow_closed" for e in evs) >= n,
                                "%d flow_closed events" % n, timeout)

    def stop(self, sig=signal.SIGTERM, timeout=DEADLINE):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise Failure("proxy did not exit within %ss of %s" % (timeout, sig))
        self._drain.join(timeout=5)
        return rc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            rc = self.stop()
            if exc[0] is None:
                check(rc == 0, "proxy exited with %s; stderr:\n%s" % (rc, "".join(self.stderr_lines)))
        if exc[0] is not None:
            sys.stderr.write("proxy stderr:\n" + "".join(self.stderr_lines))


def check_event_order(evs):
    """seq strictly increasing from 0 per flow, flow_open first, flow_closed last."""
    by_flow = {}
    for e in evs:
        for k in ("ts", "core", "flow", "seq", "type"):
            check(k in e, "event without %s: %s" % (k, e))
        by_flow.setdefault(e["flow"], []).append(e)
    for flow, es in by_flow.items():
        seqs = [e["seq"] for e in es]
        check(seqs == list(range(len(seqs))), "flow %s seqs not 0..n: %s" % (flow, seqs))
        check(es[0]["type"] == "flow_open", "flow %s does not start with flow_open" % flow)
        closed = [i for i, e in enumerate(es) if e["type"] == "flow_closed"]
        check(len(closed) <= 1, "flow %s closed twice" % flow)
        if closed:
            check(closed[0] == len(es) - 1, "flow %s has events after flow_closed" % flow)
        check(len({e["core"] for e in es}) == 1, "flow %s moved between cores" % flow)
    return by_flow


def listen(host="127.0.0.1", backlog=128):
    """A listening socket on host (an IPv6 literal such as "::1" gives IPv6)."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(backlog)
    return s


class Server:
    """A threaded TCP server on 127.0.0.1 (or host, "::1" included) running
    handler(conn) per connection; counts accepted connections."""

    def __init__(self, handler, host="127.0.0.1"):
        self.sock = listen(host)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.accepted = 0
        self.errors = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(DEADLINE)
            self.handler(c)
        except Exception as e:  # reported by the test that owns the server
            self.errors.append(repr(e))
        finally:
            c.close()

    def close(self):
        self._stop = True
        self.thread.join(timeout=5)
        self.sock.close()


def connect_via(proxy_port, target, extra=b""):
    """Opens a CONNECT tunnel; returns (socket, status line, response head)."""
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=DEADLINE)
    s.sendall(b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target.encode(), target.encode()) + extra)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    return s, status, head


def read_all(s):
    out = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            return bytes(out)
        out += b


_pending = {}  # fileno -> bytes read past the previous response


def http_response(s):
    """Reads one HTTP/1.1 response with Content-Length; returns (status, headers, body).
    Bytes past it (a pipelined next response) are kept for the next call."""
    data = _pending.pop(s.fileno(), b"")
    while b"\r\n\r\n" not in data:
        b = s.recv(65536)
        check(b, "connection closed before the response head")
        data += b
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        k, v = l.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(body) < n:
        b = s.recv(65536)
        check(b, "connection closed inside the body")
        body += b
    if len(body) > n:
        _pending[s.fileno()] = body[n:]
    return status, headers, body[:n]


class FakeDNS:
    """A UDP DNS server on 127.0.0.1 answering A/AAAA from a dict
    {name: [ip, ...]}; other names get NXDOMAIN. Counts queries."""

    def __init__(self, records):
        self.records = {k.lower().rstrip("."): v for k, v in records.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def server(self):
        return "127.0.0.1:%d" % self.port

    def _run(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                q, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self.sock.sendto(self._answer(q), addr)
            except Exception:
                pass

    def _answer(self, q):
        qid, flags, qd = struct.unpack("!HHH", q[:6])
        pos, labels = 12, []
        while q[pos]:
            n = q[pos]
            labels.append(q[pos + 1:pos + 1 + n].decode().lower())
            pos += 1 + n
        qname_end = pos + 1
        qtype, _ = struct.unpack("!HH", q[qname_end:qname_end + 4])
        question = q[12:qname_end + 4]
        name = ".".join(labels)
        self.queries.append((name, qtype))
        ips = self.records.get(name)
        if ips is None:
            return struct.pack("!HHHHHH", qid, 0x8183, 1, 0, 0, 0) + question
        answers = b""
        count = 0
        for ip in ips:
            if qtype == 1 and ":" not in ip:
                rdata = socket.inet_pton(socket.AF_INET, ip)
            elif qtype == 28 and ":" in ip:
                rdata = socket.inet_pton(socket.AF_INET6, ip)
            else:
                continue
            answers += b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 60, len(rdata)) + rdata
            count += 1
        return struct.pack("!HHHHHH", qid, 0x8180, 1, count, 0, 0) + question + answers

    def close(self):
        self._stop = True
        self.thread.join(timeout=5)
        self.sock.close()


def run_tests(tests):
    """Runs test functions in order; prints 'N passed, N failed'; exits 1 on failure."""
    passed = failed = 0
    for t in tests:
        start = time.monotonic()
        try:
            t()
            passed += 1
            print("PASS %s (%.2fs)" % (t.__name__, time.monotonic() - start), flush=True)
        except Exception as e:
            failed += 1
            import traceback
            traceback.print_exc()
            print("FAIL %s: %s" % (t.__name__, e), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


# ---- admin endpoint (--admin) ----

ADMIN = ["--admin", "127.0.0.1:0"]


def admin_port(p):
    """The admin port from the 'admin on' line (printed after 'listening on')."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        for line in list(p.stderr_lines):
            if "admin on 127.0.0.1:" in line:
                return int(line.split("127.0.0.1:")[1].split()[0])
        time.sleep(0.01)
    raise AssertionError("no 'admin on' line in stderr: %s" % "".join(p.stderr_lines))


def get(port, path, method="GET"):
    """Returns (status, headers, body) of one admin request."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=DEADLINE) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def parse(text):
    """{(name, ((label, value), ...)): value} from the text format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        if "{" in series:
            name, rest = series.split("{", 1)
            labels = []
            for item in rest.rstrip("}").split(","):
                k, v = item.split("=", 1)
                labels.append((k, v.strip('"')))
            key = (name, tuple(sorted(labels)))
        else:
            key = (series, ())
        check(key not in out, "duplicate series %s" % (key,))
        out[key] = float(value)
    return out


def total(m, name, **labels):
    """Sum of every series of name whose labels include the given ones."""
    s = 0.0
    for (n, lb), v in m.items():
        if n == name and all((k, v2) in lb for k, v2 in labels.items()):
            s += v
    return s


def scrape(port):
    st, hdrs, body = get(port, "/metrics")
    check(st == 200, "/metrics status %d" % st)
    check(hdrs.get("Content-Type", "").startswith("text/plain; version=0.0.4"), hdrs)
    return body.decode()
