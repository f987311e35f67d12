"""The `h2` and `longstream` lanes of bench/lanes (imported by it; not a
script). Each function takes the lanes module itself as `L` for its helpers
(start/stop, proxies, /proc accounting, soth-bench runs). See docs/perf.md.

h2: keep-alive HTTPS through an intercepting proxy, HTTP/2 on both sides
    (soth-mitm, mitmproxy) against HTTP/1.1 through the same proxies, with
    the direct runs as the baseline; squid cannot intercept HTTP/2.
longstream: a 1-hour-equivalent SSE stream (216,000 events) and a 10,000
    message WebSocket session through soth-mitm with its observers on,
    sampling the proxy's RSS.
"""
import json
import os
import random
import subprocess
import sys
import time

H2_CONNS, H2_STREAMS = 4, 8  # 32 requests in flight, as the HTTP/1.1 runs' 32 connections
H1_CONNS = 32
SSE_EVENTS = 216_000  # one hour of a 60 events/s stream (a token stream, say)
WS_MESSAGES = 10_000  # each echoed: 10,000 messages each way
FLAT_KIB = 1024       # "flat": last - first sample (after warm-up) within 1 MiB
H2_TARGET_MITMPROXY = 10.0
H2_TARGET_VS_H1 = 0.8


def _bench_args(L, c, ca, url):
    proto, via = c["proto"], c["via"]
    a = (["--http2", "--connections", str(H2_CONNS), "--streams", str(H2_STREAMS)]
         if proto == "h2" else ["--connections", str(H1_CONNS)])
    a += ["--cacert", ca]
    if via:
        a += ["--proxy", f"127.0.0.1:{L.P_PROXY[via]}"]
    return a + [url]


def protocol_check(L, w, fx, nofile, url):
    """Proves which protocol each side of soth-mitm spoke: a fresh soth-mitm
    with events to a file serves 20 requests of each shape; returns
    {shape: {"client alpn": count, "server alpn": count}} from its
    tls_handshake_succeeded events."""
    out = {}
    for proto in ("h2", "h1"):
        ev = f"{w}/h2-check-{proto}.jsonl"
        p, why, ca = L.start_proxy("soth-mitm-ls", w, nofile, "mitm", fx.cacert,
                                   extra=["--set", f"events={ev}"])
        if not p:
            out[proto] = {"skipped": why}
            continue
        c = {"proto": proto, "via": "soth-mitm-ls"}
        L.run_bench(["--requests", "20"] + _bench_args(L, c, ca, url), 5, f"h2 check {proto}")
        L.stop(p)
        import shutil
        shutil.rmtree(f"{w}/soth-mitm-ls-ca", ignore_errors=True)
        counts = {}
        try:
            for line in open(ev):
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                if e.get("type") == "tls_handshake_succeeded":
                    k = f"{e.get('side')} alpn {e.get('alpn') or 'none'}"
                    counts[k] = counts.get(k, 0) + 1
        except OSError:
            counts["no event file"] = 1
        out[proto] = counts
    return out


def lane_h2(L, args, w, fx, nofile):
    """soth-mitm (1 reactor, observers off as in the MITM lane) and mitmproxy
    intercepting keep-alive HTTPS, HTTP/2 on both sides (client ALPN h2,
    upstream nginx `listen ... ssl http2`) vs HTTP/1.1 through the same
    proxy process; direct runs as the baseline. Interleaved and repeated."""
    url = f"https://localhost:{L.P_H2}/small"
    check = protocol_check(L, w, fx, nofile, url)
    L.log(f"h2: protocol check (soth-mitm's tls_handshake_succeeded events): {check}")
    running, skipped, ca = {}, {}, {}
    for n in ("soth-mitm-h2", "mitmproxy-h2"):
        p, why, pca = L.start_proxy(n, w, nofile, "mitm", fx.cacert)
        if p:
            running[n], ca[n] = p, pca
            L.log(f"h2: {n}: listening on 127.0.0.1:{L.P_PROXY[n]}")
        else:
            skipped[n] = why
            L.log(f"h2: {n}: skipped: {why}")
    skipped["squid"] = ("not measured: squid 5.7 ssl-bump intercepts HTTP/1.1 only (no HTTP/2 "
                        "to the client or the server)")
    configs = [{"name": "none h2", "proto": "h2", "via": None},
               {"name": "none h1", "proto": "h1", "via": None}]
    for n, label in (("soth-mitm-h2", "soth-mitm"), ("mitmproxy-h2", "mitmproxy")):
        if n in running:
            configs += [{"name": f"{label} h2", "proto": "h2", "via": n},
                        {"name": f"{label} h1", "proto": "h1", "via": n}]
    D = args.duration
    # warm-up, not measured: leaf forging and the first upstream connections
    for c in configs:
        if c["via"]:
            L.run_bench(["--requests", "500"] + _bench_args(L, c, ca[c["via"]], url), 5,
                        f"h2 {c['name']} warm-up")
    raw = {c["name"]: {"rps": [], "cpu_us": [], "p50": [], "p99": [], "errors": 0,
                       "h2": []} for c in configs}
    commands = {}
    rng = random.Random(13)
    for rep in range(args.reps):
        order = configs[:]
        rng.shuffle(order)
        L.log(f"h2: repetition {rep + 1}/{args.reps}: order "
              f"{', '.join(c['name'] for c in order)}")
        for c in order:
            argv = _bench_args(L, c, ca.get(c["via"], fx.cacert), url)
            pid = running[c["via"]].pid if c["via"] else None
            (res, cmd), cpu = L.measured(pid, lambda: L.run_bench(argv, D, f"h2 {c['name']}"))
            commands[c["name"]] = cmd
            r = raw[c["name"]]
            if res:
                r["rps"].append(res["requests_per_s"])
                if res["requests"] and pid:
                    r["cpu_us"].append(cpu * 1e6 / res["requests"])
                r["p50"].append(res["latency_us"]["p50"])
                r["p99"].append(res["latency_us"]["p99"])
                r["errors"] += res["errors"]["total"]
                r["h2"].append(res.get("h2"))
            else:
                r["errors"] += 1
            L.log(f"  {c['name']:14s} {res and res['requests_per_s']:>10} req/s"
                  + (f", proxy {cpu:.2f} CPU-s" if pid else ""))
    foreign = L.median(L.FOREIGN)
    foreign_max = max(L.FOREIGN) if L.FOREIGN else None
    L.FOREIGN.clear()
    proxies = {}
    for n, p in running.items():
        proxies[n] = {"cpu_s": L.cpu_seconds(p.pid), "peak_rss_mib": L.status_kb(p.pid, "VmHWM") / 1024,
                      "rss_mib": L.status_kb(p.pid, "VmRSS") / 1024, "placement": L.placement(p.pid)}
        if n in L.PROXY_ARGV:
            proxies[n]["argv"] = "soth-mitm " + " ".join(L.PROXY_ARGV[n])
    nginx_placement = L.placement(fx.p.pid)
    for p in running.values():
        L.stop(p)
    rows = {}
    for c in configs:
        r = raw[c["name"]]
        rows[c["name"]] = {"proto": c["proto"], "via": c["via"], "rps": L.median(r["rps"]),
                           "cpu_us": L.median(r["cpu_us"]), "p50": L.median(r["p50"]),
                           "p99": L.median(r["p99"]), "errors": r["errors"],
                           "runs": {"rps": r["rps"], "cpu_us": r["cpu_us"]}, "h2": r["h2"]}
    g = lambda n: (rows.get(n) or {}).get("rps")  # noqa: E731
    T = []

    def add(what, val, limit):
        T.append({"what": what, "ok": None if val is None else val >= limit,
                  "got": "–" if val is None else f"{val:.2f} (limit {limit:.2f})"})

    add(f"HTTP/2 MITM >= {H2_TARGET_MITMPROXY:g}x mitmproxy HTTP/2 (req/s)",
        L.ratio(g("soth-mitm h2"), g("mitmproxy h2")), H2_TARGET_MITMPROXY)
    add(f"HTTP/2 MITM >= {H2_TARGET_VS_H1}x HTTP/1.1 MITM, soth-mitm (req/s)",
        L.ratio(g("soth-mitm h2"), g("soth-mitm h1")), H2_TARGET_VS_H1)
    return {"rows": rows, "skipped": skipped, "proxies": proxies, "commands": commands,
            "targets": T, "nginx_placement": nginx_placement, "protocol_check": check,
            "shape": {"h2": f"{H2_CONNS} connections x {H2_STREAMS} streams",
                      "h1": f"{H1_CONNS} connections"},
            "foreign_cpu_share": {"median": foreign, "max": foreign_max},
            "cpu_plan": {"generator": L.CPU_GEN, "nginx": L.CPU_SRV, "proxies": L.CPU_SRV}}


def report_h2(L, R):
    H = R["h2"]
    rows = H["rows"]
    out = [f"### HTTP/2 lane ({R['machine']['summary']}; median of {R['reps']} runs, "
           f"{R['duration_s']} s each)\n",
           f"Keep-alive HTTPS GET of a 100 B body, 32 requests in flight: HTTP/2 = "
           f"{H['shape']['h2']} (`soth-bench --http2`), HTTP/1.1 = {H['shape']['h1']}. "
           "Proxies intercept (TLS terminated with their own CA, verified TLS to nginx); "
           "soth-mitm 1 reactor, observers off (as in the MITM lane).\n",
           "| configuration | req/s | x direct same protocol | h2 / h1 (same proxy) | proxy CPU µs/req "
           "| p50 / p99 µs |",
           "|---|---:|---:|---:|---:|---:|"]
    for n in ("none h2", "none h1", "soth-mitm h2", "soth-mitm h1", "mitmproxy h2",
              "mitmproxy h1"):
        r = rows.get(n)
        if not r:
            continue
        base = rows.get(f"none {r['proto']}", {}).get("rps")
        pair = n.rsplit(" ", 1)[0]
        h2h1 = (L.ratio(rows.get(f"{pair} h2", {}).get("rps"), rows.get(f"{pair} h1", {}).get("rps"))
                if r["proto"] == "h2" else None)
        flag = " ⚠" if r.get("errors") else ""
        out.append(f"| {n}{flag} | {L.fmt(r['rps'])} | {L.fmt(L.ratio(r['rps'], base), 2)} | "
                   f"{L.fmt(h2h1, 2)} | {L.fmt(r['cpu_us'], 1)} | "
                   f"{L.fmt(r['p50'])} / {L.fmt(r['p99'])} |")
    for n, why in H["skipped"].items():
        out.append(f"| {n} | {why} ||||| ")
    out.append("")
    chk = "; ".join(f"{k} run: " + ", ".join(f"{a} x{b}" for a, b in v.items())
                    for k, v in H.get("protocol_check", {}).items())
    out.append("Protocol check (a fresh soth-mitm with events to a file, 20 requests of each "
               "shape; its tls_handshake_succeeded events, client and server side): " + chk + ".")
    for n, p in H["proxies"].items():
        out.append(f"{n}: {L.fmt(p['cpu_s'], 1)} CPU-s over the lane, peak RSS "
                   f"{L.fmt(p['peak_rss_mib'], 1)} MiB, RSS at the end {L.fmt(p['rss_mib'], 1)} MiB"
                   + (f" (`{p['argv']}`)" if p.get("argv") else "") + ".")
    ran = []
    for n, p in list(H["proxies"].items()) + [("nginx", {"placement": H["nginx_placement"]})]:
        for proc, pl in p["placement"].items():
            ran.append(f"{n}:{proc.split('[')[0]} allowed {pl['allowed']} ran on "
                       f"{','.join(map(str, pl['ran_on']))}")
    cp = H["cpu_plan"]
    out.append(f"CPU plan: " + ", ".join(f"{k} on CPU {v}" for k, v in cp.items()) +
               ". Observed placement: " + "; ".join(sorted(set(ran))) + ".")
    fc = H.get("foreign_cpu_share") or {}
    if fc.get("median") is not None:
        out.append(f"Other programs used a median {fc['median'] * 100:.0f}% (max "
                   f"{fc['max'] * 100:.0f}%) of the 2 CPUs during these runs.")
    out.append("")
    out.append("Targets (HTTP/2 issue), this run:")
    for t in H["targets"]:
        out.append(f"- {'PASS' if t['ok'] else ('FAIL' if t['ok'] is False else 'n/a ')} "
                   f"{t['what']}: {t['got']}")
    return "\n".join(out)


# ---- longstream --------------------------------------------------------------

def _slope_kib_per(samples, per):
    """Least-squares slope of RSS (KiB) over messages, in KiB per `per` messages."""
    pts = [(x, y) for x, y in samples if isinstance(x, int) and y is not None]
    if len(pts) < 3:
        return None
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if not sxx:
        return None
    return sum((x - mx) * (y - my) for x, y in pts) / sxx * per


def _summary(res, per):
    s = [(x, y) for x, y in res.get("samples", []) if y is not None]
    num = [(x, y) for x, y in s if isinstance(x, int)]
    warm = [(x, y) for x, y in num if x > 0]  # the first sample after warm-up
    if not warm:
        return {}
    first, last = warm[0], warm[-1]
    return {"before_kib": num[0][1] if num and num[0][0] == 0 else None,
            "first_at": first[0], "first_kib": first[1], "peak_kib": max(y for _, y in s),
            "last_kib": last[1], "end_kib": s[-1][1], "growth_kib": last[1] - first[1],
            "slope_kib_per": _slope_kib_per(warm, per), "per": per,
            "flat": last[1] - first[1] <= FLAT_KIB}


def lane_longstream(L, args, w, fx, nofile):
    """A fresh soth-mitm (1 reactor, observers on = its defaults, events to a
    file) on CPU 1 with the origin (bench/longstream.py, python3); the client
    on CPU 0. One SSE stream of SSE_EVENTS events, then one WebSocket session
    of WS_MESSAGES echoed messages, sampling the proxy's VmRSS."""
    here = os.path.dirname(os.path.abspath(__file__))
    script = os.path.join(here, "longstream.py")
    py = "/usr/bin/python3"
    try:
        import websockets  # noqa: F401
    except ImportError:
        return {"skipped": "python3-websockets is not installed (apt-get install python3-websockets)"}
    origin = L.start("longstream-origin", [py, script, "origin", "--cert", fx.cacert, "--key",
                                           f"{fx.w}/key.pem", "--sse-port", str(L.P_LS_SSE),
                                           "--ws-port", str(L.P_LS_WS)], L.CPU_SRV,
                     f"{w}/longstream-origin.stderr")
    if not L.wait_port(L.P_LS_SSE, proc=origin) or not L.wait_port(L.P_LS_WS, proc=origin):
        L.stop(origin)
        return {"skipped": "the origin did not start (see longstream-origin.stderr)"}
    ev = f"{w}/longstream-events.jsonl"
    admin = f"127.0.0.1:{L.P_LS_ADMIN}"
    p, why, ca = L.start_proxy("soth-mitm-ls", w, nofile, "mitm", fx.cacert, observe=True,
                               extra=["--set", f"events={ev}", "--admin", admin])
    if not p:
        L.stop(origin)
        return {"skipped": f"soth-mitm: {why}"}
    time.sleep(0.3)
    out = {"proxy_argv": "soth-mitm " + " ".join(L.PROXY_ARGV["soth-mitm-ls"]),
           "rss_start_kib": L.status_kb(p.pid, "VmRSS"), "commands": {}}
    sse = ["--url", f"https://localhost:{L.P_LS_SSE}/sse?n={SSE_EVENTS}", "--every", "10000"]
    # the first stream through a fresh proxy also faults in the pages of its
    # fixed-size buffers (the event ring: limits.event_ring_size records);
    # the second, identical stream shows the steady state
    runs = (("sse-cold", "sse", sse, 10000), ("sse", "sse", sse, 10000),
            ("ws", "ws", ["--url", f"wss://localhost:{L.P_LS_WS}/ws", "--messages",
                          str(WS_MESSAGES), "--every", "500"], 1000))
    for name, kind, extra, per in runs:
        cmd = ["taskset", "-c", L.CPU_GEN, py, script, kind, "--proxy",
               f"127.0.0.1:{L.P_PROXY['soth-mitm-ls']}", "--cacert", ca, "--rss-pid",
               str(p.pid), "--timeout", "240"] + extra
        out["commands"][name] = " ".join(cmd[3:]).replace(w, "WORK")
        c0 = L.cpu_seconds(p.pid)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            res = json.loads(r.stdout) if r.stdout.strip() else {"ok": False,
                                                                   "error": r.stderr[-300:]}
        except (subprocess.TimeoutExpired, ValueError) as e:
            res = {"ok": False, "error": str(e)}
        res["proxy_cpu_s"] = L.cpu_seconds(p.pid) - c0
        res["rss"] = _summary(res, per)
        out[name] = res
        L.log(f"longstream {name}: ok {res.get('ok')} in {res.get('seconds')} s, rss {res['rss']}"
              + (f", error {res.get('error')}" if res.get("error") else ""))
    out["peak_rss_kib"] = L.status_kb(p.pid, "VmHWM")
    out["events_dropped"] = None
    try:
        import urllib.request
        with urllib.request.urlopen(f"http://{admin}/metrics", timeout=5) as m:
            for line in m.read().decode().splitlines():
                if line.startswith("soth_events_dropped_total"):
                    out["events_dropped"] = (out["events_dropped"] or 0) + int(float(line.split()[-1]))
    except (OSError, ValueError) as e:
        L.log(f"longstream: /metrics: {e}")
    out["placement"] = {"soth-mitm": L.placement(p.pid), "origin": L.placement(origin.pid)}
    L.stop(p)  # a clean stop flushes the events
    L.stop(origin)
    counts = {}
    try:
        with open(ev) as f:
            for line in f:
                try:
                    t = json.loads(line).get("type", "?")
                except ValueError:
                    t = "unparsable line"
                counts[t] = counts.get(t, 0) + 1
        os.unlink(ev)
    except OSError:
        counts["no event file"] = 1
    out["events"] = counts
    out["targets"] = []
    for name, what in (("sse", f"SSE {SSE_EVENTS:,} events (second stream)"),
                       ("ws", f"WebSocket {WS_MESSAGES:,} messages each way")):
        s = out[name].get("rss") or {}
        ok = bool(out[name].get("ok")) and s.get("flat")
        out["targets"].append({"what": f"{what}: RSS flat (last - first sample <= {FLAT_KIB} KiB)",
                               "ok": ok if s else None,
                               "got": (f"{s['growth_kib']:+,} KiB" if s else "–") +
                               ("" if out[name].get("ok") else " (the stream failed)")})
    return out


def report_longstream(L, R):
    S = R["longstream"]
    if "skipped" in S:
        return f"### Long-stream lane: skipped: {S['skipped']}"
    out = ["### Long-stream lane: flat memory (soth-mitm-t1, observers on, events to a file)\n",
           f"RSS of soth-mitm before the first stream: {S['rss_start_kib']:,} KiB; peak over "
           f"the lane (VmHWM) {S['peak_rss_kib']:,} KiB.\n",
           "| stream | result | seconds | proxy CPU s | RSS before KiB | first sample KiB (at) "
           "| peak KiB | last KiB | last - first KiB | slope KiB per | flat |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, label in (("sse-cold", f"SSE, {SSE_EVENTS:,} events (1 h at 60/s), first stream "
                                     "through the fresh proxy"),
                        ("sse", f"SSE, {SSE_EVENTS:,} events, the same again"),
                        ("ws", f"WebSocket, {WS_MESSAGES:,} messages each way")):
        r = S[name]
        s = r.get("rss") or {}
        res = "ok" if r.get("ok") else f"FAILED: {r.get('error')}"
        if name.startswith("sse") and r.get("ok"):
            res += f" ({r['bytes']:,} bytes)"
        if name == "ws" and r.get("ok"):
            res += f" ({r['bytes_each_way']:,} bytes each way)"
        out.append(f"| {label} | {res} | {L.fmt(r.get('seconds'), 2)} | "
                   f"{L.fmt(r.get('proxy_cpu_s'), 2)} | {L.fmt(s.get('before_kib'))} | "
                   f"{L.fmt(s.get('first_kib'))} ({L.fmt(s.get('first_at'))}) | "
                   f"{L.fmt(s.get('peak_kib'))} | {L.fmt(s.get('last_kib'))} | "
                   f"{L.fmt(s.get('growth_kib'))} | "
                   f"{L.fmt(s.get('slope_kib_per'), 1)} / {L.fmt(s.get('per'))} msgs | "
                   f"{'yes' if s.get('flat') else 'no'} |")
    out.append("")
    out.append("Events written by the proxy: " +
               ", ".join(f"{k} {v:,}" for k, v in sorted(S["events"].items())) +
               f"; events dropped because the event ring was full "
               f"(`soth_events_dropped_total`): {L.fmt(S.get('events_dropped'))}.")
    out.append(f"Proxy: `{S['proxy_argv']}`.")
    ran = []
    for n, pl in S["placement"].items():
        for proc, q in pl.items():
            ran.append(f"{n}:{proc.split('[')[0]} allowed {q['allowed']} ran on "
                       f"{','.join(map(str, q['ran_on']))}")
    out.append("Placement: " + "; ".join(sorted(set(ran))) + f"; client on CPU {L.CPU_GEN}.")
    out.append("")
    out.append("Targets (HTTP/2 issue, long streams), this run:")
    for t in S["targets"]:
        out.append(f"- {'PASS' if t['ok'] else ('FAIL' if t['ok'] is False else 'n/a ')} "
                   f"{t['what']}: {t['got']}")
    return "\n".join(out)
