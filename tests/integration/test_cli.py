"""The command line tells the truth: help, version, and clear errors with
exit code 2 for bad input (never a crash)."""
import os
import select
import signal
import socket
import ssl
import subprocess
import tempfile
import time

from smlib import BIN, DEADLINE, Failure, Server, check, connect_via, run_tests


def run(*args):
    return subprocess.run([BIN] + list(args), capture_output=True, timeout=DEADLINE)


class Started:
    """A soth-mitm process whose stderr is read line by line as it comes."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([BIN] + list(args), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.lines = []

    def wait_line(self, needle, timeout=DEADLINE):
        """The first stderr line containing needle (waits for it, bounded);
        None if the process ended without printing one."""
        for l in self.lines:
            if needle in l:
                return l
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            check(left > 0, "no line with %r within %ss; stderr: %s" % (needle, timeout, self.lines))
            r, _, _ = select.select([self.proc.stderr], [], [], left)
            if not r:
                continue
            line = self.proc.stderr.readline().decode(errors="replace")
            if not line:
                return None
            self.lines.append(line)
            if needle in line:
                return line

    def port(self):
        line = self.wait_line("listening on ")
        check(line, "did not start: %s" % "".join(self.lines))
        return int(line.rsplit(":", 1)[1].split()[0])

    def stop(self, sig=signal.SIGTERM, timeout=DEADLINE):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rest = self.proc.communicate(timeout=timeout)[1]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise Failure("did not exit within %ss of %s" % (timeout, sig))
        self.lines += rest.decode(errors="replace").splitlines(True)
        return self.proc.returncode


def test_help_lists_every_option():
    out = run("--help")
    check(out.returncode == 0, out)
    text = out.stdout.decode()
    for opt in ("--listen", "--threads", "--config", "--set", "--events", "--help", "--version"):
        check(opt in text, "--help does not mention %s" % opt)


def test_version():
    out = run("--version")
    check(out.returncode == 0 and out.stdout.startswith(b"soth-mitm "), out)


def test_bad_input_exits_2_with_a_clear_message():
    d = tempfile.mkdtemp()
    bad = os.path.join(d, "bad.yaml")
    with open(bad, "w") as f:
        f.write("listen: [\"127.0.0.1:0\"]\nrules:\n  - { host: a.test, port: http, action: block }\n")
    cases = [
        (["--bogus"], "unknown option '--bogus'"),
        (["--threads"], "needs a value"),
        (["--set", "threads=abc"], "--set threads: expected an integer"),
        (["--set", "nosuchkey=1"], "unknown key"),
        (["--config", os.path.join(d, "missing.yaml")], "cannot open"),
        (["--config", bad], "bad.yaml:3:"),
        (["--listen", "127.0.0.1:0", "--set", "default_action=intercept", "--ca-dir",
          os.path.join(d, "ca"), "--upstream-ca", os.path.join(d, "missing.pem")],
         "cannot read trusted CA file"),
        (["--listen", "127.0.0.1:0", "--set", "tls.non_tls=intercept"], "tls.non_tls"),
        (["--listen", "127.0.0.1:0", "--set", "dns_servers=not a server"], "dns_servers"),
        (["--listen", "127.0.0.1:0", "--events", os.path.join(d, "no/such/dir/ev")],
         "cannot open events file"),
    ]
    for args, msg in cases:
        out = run(*args)
        err = out.stderr.decode()
        check(out.returncode == 2, "%s: exit %d, stderr %s" % (args, out.returncode, err))
        check(msg in err, "%s: stderr %r lacks %r" % (args, err, msg))


def test_concurrent_first_runs_share_one_ca():
    """Proxies and `ca export` started together on a fresh CA directory all
    succeed and all use the one CA that was created."""
    origin = Server(lambda c: None)  # accepts and closes: the upstream TLS fails
    try:
        for rnd in range(4):
            cadir = os.path.join(tempfile.mkdtemp(), "ca")
            procs = []
            for i in range(8):
                if i % 2:
                    procs.append(subprocess.Popen([BIN, "ca", "export", "--ca-dir", cadir],
                                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE))
                else:
                    procs.append(Started("--listen", "127.0.0.1:0", "--threads", "1",
                                         "--ca-dir", cadir, "--set", "default_action=intercept",
                                         "--set", "tls.system_ca="))
            pems, proxies = [], []
            for p in procs:
                if isinstance(p, Started):
                    proxies.append(p)
                    continue
                out, err = p.communicate(timeout=DEADLINE)
                check(p.returncode == 0, "round %d: ca export exit %d: %s" % (rnd, p.returncode, err))
                pems.append(out)
            check(len(set(pems)) == 1, "round %d: %d different CAs exported" % (rnd, len(set(pems))))
            with open(os.path.join(cadir, "ca.pem"), "rb") as f:
                check(f.read() == pems[0], "round %d: ca.pem is not the exported CA" % rnd)
            ctx = ssl.create_default_context(cafile=os.path.join(cadir, "ca.pem"))
            for p in proxies:
                port = p.port()
                s, status, _ = connect_via(port, "localhost:%d" % origin.port)
                check(" 200 " in status, status)
                # the leaf must chain to the exported CA
                ctx.wrap_socket(s, server_hostname="localhost").close()
                check(p.stop() == 0, "round %d: %s" % (rnd, "".join(p.lines)))
            created = sum("created a new CA" in l for p in procs if isinstance(p, Started)
                          for l in p.lines)
            check(created <= 1, "round %d: %d proxies say they created the CA" % (rnd, created))
    finally:
        origin.close()


if __name__ == "__main__":
    run_tests([test_help_lists_every_option, test_version, test_bad_input_exits_2_with_a_clear_message,
               test_concurrent_first_runs_share_one_ca])
