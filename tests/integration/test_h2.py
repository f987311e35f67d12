"""HTTP/2 interception end to end: curl --http2 through the proxy to an h2
origin (python3-h2); both sides negotiate h2, streams are relayed 1:1 and
reported with their stream id; many streams on one connection byte-exact."""
import os
import subprocess

from smlib import DEADLINE, Proxy, check, check_event_order, run_tests
from tlslab import Lab
from h2origin import h2_server

LAB = Lab()


def proxy():
    cadir = os.path.join(LAB.dir, "ca")
    p = Proxy(args=["--set", "default_action=intercept", "--ca-dir", cadir, "--upstream-ca", LAB.ca,
                    "--set", "tls.system_ca="], threads=1)
    p.ca = os.path.join(cadir, "ca.pem")
    return p


def test_curl_http2_through_the_proxy():
    crt, key = LAB.leaf("h2o")
    srv = h2_server(crt, key)
    with proxy() as p:
        url = "https://localhost:%d" % srv.port
        out = subprocess.run(["curl", "-sS", "-m", "20", "--http2", "--cacert", p.ca, "-x", p.url,
                              "-w", "%{http_version}\n", url + "/one", url + "/two"],
                             capture_output=True, timeout=DEADLINE)
        check(out.returncode == 0, out.stderr)
        check(out.stdout == b"h2:/one body=0\n2\nh2:/two body=0\n2\n", out.stdout)
        body = os.path.join(LAB.dir, "body.bin")
        with open(body, "wb") as f:
            f.write(b"x" * 200000)
        post = subprocess.run(["curl", "-sS", "-m", "20", "--http2", "--cacert", p.ca, "-x", p.url,
                               "--data-binary", "@" + body, url + "/up"],
                              capture_output=True, timeout=DEADLINE)
        check(post.stdout == b"h2:/up body=200000\n", post)
        evs = p.wait_closed(2)
        check_event_order(evs)
        ok = [e for e in evs if e["type"] == "tls_handshake_succeeded"]
        check(all(e["alpn"] == "h2" for e in ok) and len(ok) == 4, ok)
        reqs = [(e["method"], e["target"], e["stream"]) for e in evs
                if e["type"] == "proxy_request" and e["method"] != "CONNECT"]
        check(reqs == [("GET", "/one", 1), ("GET", "/two", 3), ("POST", "/up", 1)], reqs)
        resp = [(e["status"], e["stream"]) for e in evs if e["type"] == "http_response"]
        check(resp == [(200, 1), (200, 3), (200, 1)], resp)
        check(all(e["reason"] == "done" for e in evs if e["type"] == "flow_closed"), evs[-1])
    srv.close()


def test_many_streams_on_one_connection():
    crt, key = LAB.leaf("h2m")
    srv = h2_server(crt, key)
    n = 100
    with proxy() as p:
        url = "https://localhost:%d" % srv.port
        args = ["curl", "-sS", "-m", "30", "--http2", "--parallel", "--parallel-max", str(n),
                "--cacert", p.ca, "-x", p.url]
        for i in range(n):
            args += [url + "/s%d" % i, "-o", os.path.join(LAB.dir, "out%d" % i)]
        out = subprocess.run(args, capture_output=True, timeout=DEADLINE * 2)
        check(out.returncode == 0, out.stderr)
        for i in range(n):
            with open(os.path.join(LAB.dir, "out%d" % i), "rb") as f:
                check(f.read() == b"h2:/s%d body=0\n" % i, "stream %d" % i)
        evs = p.wait_events(lambda evs: sum(e["type"] == "http_response" for e in evs) >= n,
                            "%d responses" % n)
        check(sum(e["type"] == "http_response" for e in evs) == n, "responses")
        tunnels = [e for e in evs if e["type"] == "proxy_request" and e["method"] == "CONNECT"]
        streams = {e["stream"] for e in evs if e["type"] == "http_response"}
        check(len(tunnels) == 1 and len(streams) == n,
              "%d streams must share one connection: %d CONNECTs, %d stream ids" %
              (n, len(tunnels), len(streams)))
    srv.close()


if __name__ == "__main__":
    run_tests([test_curl_http2_through_the_proxy, test_many_streams_on_one_connection])
