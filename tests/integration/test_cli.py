"""The command line tells the truth: help, version, and clear errors with
exit code 2 for bad input (never a crash)."""
import os
import subprocess
import tempfile

from smlib import BIN, DEADLINE, check, run_tests


def run(*args):
    return subprocess.run([BIN] + list(args), capture_output=True, timeout=DEADLINE)


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


if __name__ == "__main__":
    run_tests([test_help_lists_every_option, test_version, test_bad_input_exits_2_with_a_clear_message])
