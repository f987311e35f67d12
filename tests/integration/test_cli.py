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


def run(*args, env=None):
    return subprocess.run([BIN] + list(args), capture_output=True, timeout=DEADLINE, env=env)


class Started:
    """A soth-mitm process whose stderr is read line by line as it comes."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([BIN] + list(args), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.lines = []
        self._part = b""  # read from the pipe, not a whole line yet

    def wait_line(self, needle, timeout=DEADLINE):
        """The first stderr line containing needle (waits for it, bounded);
        None if the process ended without printing one."""
        end = time.monotonic() + timeout
        seen = 0
        while True:
            for l in self.lines[seen:]:
                if needle in l:
                    return l
            seen = len(self.lines)
            left = end - time.monotonic()
            check(left > 0, "no line with %r within %ss; stderr: %s" % (needle, timeout, self.lines))
            # the raw fd, not the buffered file: select must see every byte
            r, _, _ = select.select([self.proc.stderr], [], [], left)
            if not r:
                continue
            data = os.read(self.proc.stderr.fileno(), 65536)
            if not data:
                if self._part:
                    self.lines.append(self._part.decode(errors="replace"))
                    self._part = b""
                    continue
                return None
            *whole, self._part = (self._part + data).split(b"\n")
            self.lines += [w.decode(errors="replace") + "\n" for w in whole]

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
        self.lines += (self._part + rest).decode(errors="replace").splitlines(True)
        self._part = b""
        return self.proc.returncode


def start_or_exit(*args):
    """Runs the proxy until it either exits or reports its listeners (then
    stops it). Returns (exit code or "started", stderr text)."""
    p = Started(*args)
    if p.wait_line("listening on ") is not None:
        p.stop()
        return "started", "".join(p.lines)
    p.stop()
    return p.proc.returncode, "".join(p.lines)


def test_help_lists_every_option():
    out = run("--help")
    check(out.returncode == 0, out)
    text = out.stdout.decode()
    for opt in ("--listen", "--threads", "--allow-oversubscribe", "--config", "--set", "--events",
                "--help", "--version", "--ca-dir", "--upstream-ca", "--insecure-host", "--keylog",
                "--admin"):
        check(opt in text, "--help does not mention %s" % opt)


def usage_forms(text):
    """Command lines for every `soth-mitm ca` usage line in text, each
    optional [group] both left out and given."""
    forms = []
    for line in text.splitlines():
        words = line.replace("Usage:", "").replace("usage:", "").split("#")[0].split()
        if words[:1] != ["soth-mitm"] or "ca" not in words:
            continue
        variants = [[]]
        i = 1
        while i < len(words):
            w = words[i]
            if w.startswith("["):
                group = [w.strip("[]")]
                while not words[i].endswith("]"):
                    i += 1
                    group.append(words[i].strip("[]"))
                variants = [v + extra for v in variants for extra in ([], group)]
            else:
                variants = [v + [w] for v in variants]
            i += 1
        forms += variants
    return forms


def test_every_ca_usage_form_works():
    """Each form that --help and the ca usage message show runs (exit 0),
    and they all print the same CA."""
    help_text = run("--help").stdout.decode()
    ca_usage = run("ca").stderr.decode()
    forms = usage_forms(help_text) + usage_forms(ca_usage)
    check(len(forms) >= 8, "ca usage forms: %s" % forms)
    # the default directory is $XDG_DATA_HOME/soth-mitm: never the user's
    data = tempfile.mkdtemp()
    env = dict(os.environ, XDG_DATA_HOME=data)
    cadir = os.path.join(data, "soth-mitm")
    pems = set()
    for f in forms:
        args = [cadir if w == "DIR" else w for w in f]
        out = run(*args, env=env)
        check(out.returncode == 0, "%s: exit %d: %s" % (args, out.returncode, out.stderr))
        if "export" in args and "--der" not in args:
            pems.add(out.stdout)
        elif "path" in args and "--ca-dir" in args:
            check(out.stdout.decode() == os.path.join(cadir, "ca.pem") + "\n", out.stdout)
    check(len(pems) == 1, "different CAs: %d" % len(pems))


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


def upstream_ca_files(d):
    """Files that are not trusted roots: {name: (contents, reason shown)}."""
    key = os.path.join(d, "k.pem")
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key],
                   check=True, capture_output=True, timeout=DEADLINE)
    with open(key, "rb") as f:
        key_pem = f.read()
    bad_cert = (b"-----BEGIN CERTIFICATE-----\n" + b"QUJD" * 40 + b"\n-----END CERTIFICATE-----\n")
    return {
        "empty.pem": (b"", "is empty"),
        "key.pem": (key_pem, "holds a private key, not a certificate"),
        "random.pem": (os.urandom(3000), "has no PEM certificate"),
        "broken.pem": (bad_cert, "certificate 1 is not valid"),
    }


def test_upstream_ca_must_hold_certificates():
    """--upstream-ca refuses a file that is not a PEM certificate bundle
    (whatever the default action), naming the file and what is wrong."""
    d = tempfile.mkdtemp()
    for name, (data, reason) in upstream_ca_files(d).items():
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(data)
        for action in ("intercept", "tunnel"):
            rc, err = start_or_exit("--listen", "127.0.0.1:0", "--ca-dir", os.path.join(d, "ca"),
                                    "--set", "default_action=" + action, "--upstream-ca", path)
            check(rc == 2, "%s (%s): exit %s, stderr %s" % (name, action, rc, err))
            check(path in err and reason in err, "%s: stderr %r lacks the file and %r" % (name, err, reason))
    # a CA with its key in the same file, and the system bundle (it holds
    # expired roots: harmless, accepted) start
    ca, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", ca_key, "-out", ca, "-days", "3", "-subj", "/CN=t"],
                   check=True, capture_output=True, timeout=DEADLINE)
    both = os.path.join(d, "both.pem")
    with open(both, "wb") as f:
        f.write(open(ca, "rb").read() + open(ca_key, "rb").read())
    good = [both] + [b for b in ["/etc/ssl/certs/ca-certificates.crt"] if os.path.exists(b)]
    args = ["--listen", "127.0.0.1:0", "--ca-dir", os.path.join(d, "ca")]
    for g in good:
        args += ["--upstream-ca", g]
    rc, err = start_or_exit(*args)
    check(rc == "started", "good trusted CA files refused: %s" % err)


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


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unsafe_setups_start_with_one_warning_each():
    """Set-ups that work but expose the proxy start, with one warning line
    each on stderr; safe neighbours of them print none. 0.0.0.0 is bound,
    but only loopback traffic is made."""
    d = tempfile.mkdtemp()
    base = ["--ca-dir", os.path.join(d, "ca"), "--set", "default_action=tunnel", "--threads", "1"]
    port = free_port()
    cases = [
        (["--listen", "0.0.0.0:0", "--set", "allow_clients=0.0.0.0/0"],
         "listener 0.0.0.0:0 is not on a loopback address and allow_clients admits every address"),
        (["--listen", "127.0.0.1:0", "--admin", "0.0.0.0:0"],
         "admin endpoint 0.0.0.0:0 is not on a loopback address"),
        (["--listen", "127.0.0.1:0", "--insecure-host", "*"],
         'tls.insecure_hosts "*" matches every host'),
        (["--listen", "127.0.0.1:%d" % port, "--listen", "127.0.0.1:%d" % port],
         "listen address 127.0.0.1:%d is given more than once" % port),
        # safe: no warning
        (["--listen", "0.0.0.0:0"], None),  # allow_clients stays loopback-only
        (["--listen", "127.0.0.1:0", "--set", "allow_clients=0.0.0.0/0"], None),
        (["--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--insecure-host", "*.test",
          "--admin", "127.0.0.1:0"], None),
    ]
    for args, want in cases:
        p = Started(*(base + args))
        check(p.wait_line("listening on ") is not None, "%s: did not start: %s" % (args, p.lines))
        check(p.stop() == 0, "%s: %s" % (args, p.lines))
        warnings = [l for l in p.lines if l.startswith("soth-mitm: warning: ")]
        if want is None:
            check(not warnings, "%s: unexpected %s" % (args, warnings))
        else:
            check(len(warnings) == 1 and want in warnings[0],
                  "%s: want one warning with %r, got %s" % (args, want, p.lines))


SMALL = ["--set", "limits.max_flows_per_thread=4096", "--set", "limits.event_ring_size=64",
         "--set", "limits.send_chunks_per_thread=16", "--set", "limits.recv_buffers_per_thread=16"]


def test_threads_above_the_cpus_need_an_explicit_override():
    """More reactors than CPUs are refused with exit 2 and a message that
    says how to allow them; the override starts them; the absolute cap
    holds even then."""
    cpus = len(os.sched_getaffinity(0))
    d = tempfile.mkdtemp()
    base = ["--listen", "127.0.0.1:0", "--ca-dir", os.path.join(d, "ca"),
            "--set", "default_action=tunnel"]
    rc, err = start_or_exit(*(base + ["--threads", str(cpus + 1)]))
    check(rc == 2, "--threads %d on %d CPUs: exit %s, stderr %s" % (cpus + 1, cpus, rc, err))
    for want in ("%d reactors but this process may use %d CPU" % (cpus + 1, cpus),
                 "--threads %d or fewer" % cpus, "--allow-oversubscribe"):
        check(want in err, "stderr %r lacks %r" % (err, want))
    check("building" not in err, "refused before building anything: %s" % err)
    for override in (["--allow-oversubscribe"], ["--set", "allow_oversubscribe=true"]):
        rc, err = start_or_exit(*(base + SMALL + ["--threads", str(cpus + 1)] + override))
        check(rc == "started" and "(%d reactors)" % (cpus + 1) in err, "%s: %s %s" % (override, rc, err))
    for args in (["--threads", "1025", "--allow-oversubscribe"],
                 ["--set", "threads=1025", "--allow-oversubscribe"]):
        rc, err = start_or_exit(*(base + args))
        check(rc == 2 and "1024" in err, "%s: exit %s, stderr %s" % (args, rc, err))


def test_sigterm_during_start_up_exits_promptly():
    """SIGTERM sent once start-up says it is building the reactors stops it
    there: no listener, exit 0, within seconds (1024 small reactors take
    about a second to build and start)."""
    d = tempfile.mkdtemp()
    p = Started("--listen", "127.0.0.1:0", "--ca-dir", os.path.join(d, "ca"),
                "--set", "default_action=tunnel", "--threads", "1024", "--allow-oversubscribe",
                *SMALL)
    line = p.wait_line("building 1024 reactors")
    check(line is not None, "no building line: %s" % p.lines)
    t0 = time.monotonic()
    rc = p.stop(timeout=10)
    took = time.monotonic() - t0
    text = "".join(p.lines)
    check(rc == 0, "exit %s: %s" % (rc, text))
    check("SIGTERM during start-up" in text and "listening on" not in text, text)
    check(took < 10, "took %.1fs" % took)


if __name__ == "__main__":
    run_tests([test_help_lists_every_option, test_every_ca_usage_form_works, test_version, test_bad_input_exits_2_with_a_clear_message,
               test_upstream_ca_must_hold_certificates,
               test_concurrent_first_runs_share_one_ca,
               test_unsafe_setups_start_with_one_warning_each,
               test_threads_above_the_cpus_need_an_explicit_override,
               test_sigterm_during_start_up_exits_promptly])
