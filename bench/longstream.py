#!/usr/bin/python3
"""Long-stream memory fixture for bench/lanes (the `longstream` lane).

    longstream.py origin --cert C --key K --sse-port P1 --ws-port P2
    longstream.py sse --proxy HOST:PORT --cacert CA --url https://localhost:P1/sse?n=N
                      --rss-pid PID [--every K] [--timeout S]
    longstream.py ws  --proxy HOST:PORT --cacert CA --url wss://localhost:P2/ws
                      --messages N --rss-pid PID [--every K] [--timeout S]

origin: one asyncio process serving, over TLS on 127.0.0.1,
  - /sse?n=N on P1: an HTTP/1.1 text/event-stream response of N events
    (`id: i`, `event: delta`, `data: {"i":i,"tok":"..."}`, about 60 bytes
    each), chunked, 500 events per chunk, as fast as the reader takes them
    (each chunk waits for the socket to drain), then the connection closes
    (the client stops at the last chunk, not at the close);
  - a WebSocket echo server on P2 (python3-websockets, no compression):
    every message comes back as it went, text or binary.
sse / ws: the client side, run through the proxy (CONNECT, then TLS to the
  origin verified with the proxy's CA). It reads /proc/PID/status VmRSS of
  --rss-pid every --every messages and prints one JSON line: messages,
  seconds, the RSS samples [(messages, KiB)] and, for ws, bytes each way.
  Any mismatch, short stream or timeout is an error: "ok": false and exit 3.
Bounded: every client has a time limit (--timeout) and a message count.
"""
import argparse
import asyncio
import json
import random
import socket
import ssl
import sys
import time


def vmrss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def sse_event(i):
    return f'id: {i}\nevent: delta\ndata: {{"i":{i},"tok":"t{i % 997:03d}"}}\n\n'


# ---- origin ------------------------------------------------------------------

async def sse_handler(reader, writer):
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        path = line.split(" ")[1] if " " in line else "/"
        n = 0
        if path.startswith("/sse"):
            for kv in path.partition("?")[2].split("&"):
                k, _, v = kv.partition("=")
                if k == "n" and v.isdigit():
                    n = min(int(v), 10_000_000)
        if not path.startswith("/sse"):
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: "
                     b"no-cache\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        step = 500
        for base in range(0, n, step):
            body = "".join(sse_event(i) for i in range(base, min(n, base + step))).encode()
            writer.write(b"%x\r\n%s\r\n" % (len(body), body))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def ws_echo(ws, path=None):
    async for msg in ws:
        await ws.send(msg)


async def origin(a):
    import websockets
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.set_alpn_protocols(["http/1.1"])
    s1 = await asyncio.start_server(sse_handler, "127.0.0.1", a.sse_port, ssl=ctx, backlog=64)
    async with websockets.serve(ws_echo, "127.0.0.1", a.ws_port, ssl=ctx, max_size=1 << 21,
                                compression=None, ping_interval=None):
        async with s1:
            await s1.serve_forever()


# ---- clients -----------------------------------------------------------------

def connect_tunnel(proxy, host, port, timeout):
    ph, _, pp = proxy.rpartition(":")
    s = socket.create_connection((ph, int(pp)), timeout=timeout)
    s.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            raise OSError("proxy closed before answering CONNECT")
        buf += d
    status = buf.split(b"\r\n", 1)[0]
    if b" 200" not in status:
        raise OSError(f"CONNECT answered {status!r}")
    return s


def split_url(url):
    from urllib.parse import urlsplit
    u = urlsplit(url)
    return u.hostname, u.port, (u.path or "/") + (("?" + u.query) if u.query else "")


def sse_client(a):
    host, port, path = split_url(a.url)
    n_want = int(path.partition("n=")[2] or 0)
    ctx = ssl.create_default_context(cafile=a.cacert)
    t0 = time.time()
    out = {"what": "sse", "events_expected": n_want, "samples": [], "ok": False}
    try:
        raw = connect_tunnel(a.proxy, host, port, a.timeout)
        s = ctx.wrap_socket(raw, server_hostname=host)
        s.settimeout(a.timeout)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n"
                  .encode())
        out["samples"].append((0, vmrss(a.rss_pid)))
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                raise OSError("closed before the response head")
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            first = head.split(b"\r\n", 1)[0]
            raise OSError(f"status {first!r}")
        # events end with "\n\n"; chunk framing uses CRLF and never contains it,
        # and the origin puts whole events in each chunk
        count, tail, nbytes, next_sample, last = 0, b"", 0, a.every, b""
        data = rest
        while True:
            if data:
                nbytes += len(data)
                w = tail + data
                count += w.count(b"\n\n")
                tail = w[-1:] if not w.endswith(b"\n\n") else b""
                last = (last + data)[-16:]
                while count >= next_sample:
                    out["samples"].append((next_sample, vmrss(a.rss_pid)))
                    next_sample += a.every
                if time.time() - t0 > a.timeout:
                    raise OSError("time limit")
                if last.endswith(b"\r\n0\r\n\r\n"):
                    break  # the last chunk: the response is complete
            try:
                data = s.recv(1 << 18)
            except ssl.SSLError as e:  # an unclean close after the last chunk
                if "EOF" in str(e) or "eof" in str(e):
                    break
                raise
            if not data:
                break
        out["events"] = count
        out["bytes"] = nbytes
        out["ok"] = count == n_want
        if not out["ok"]:
            out["error"] = f"{count} events, want {n_want}"
    except (OSError, ssl.SSLError) as e:
        out["error"] = str(e)
    out["seconds"] = round(time.time() - t0, 3)
    out["samples"].append(("end", vmrss(a.rss_pid)))
    return out


async def ws_run(a, out):
    import websockets
    host, port, path = split_url(a.url)
    ctx = ssl.create_default_context(cafile=a.cacert)
    raw = connect_tunnel(a.proxy, host, port, a.timeout)
    raw.setblocking(False)
    rng = random.Random(7)
    big = bytes(rng.getrandbits(8) for _ in range(256)) * 256  # 64 KiB
    out["samples"].append((0, vmrss(a.rss_pid)))
    async with websockets.connect(f"wss://{host}:{port}{path}", sock=raw, ssl=ctx,
                                  server_hostname=host, max_size=1 << 21, compression=None,
                                  ping_interval=None, open_timeout=a.timeout) as ws:
        sent = 0
        for i in range(a.messages):
            if i % 50 == 0:
                msg = big  # a 64 KiB binary message every 50
            elif i % 2:
                msg = "x" * rng.randrange(100, 1000) + f" #{i}"  # text
            else:
                msg = rng.randbytes(rng.randrange(100, 1000))  # binary
            await ws.send(msg)
            back = await asyncio.wait_for(ws.recv(), a.timeout)
            if back != msg:
                raise OSError(f"message {i} came back different")
            sent += len(msg) if isinstance(msg, bytes) else len(msg.encode())
            if (i + 1) % a.every == 0:
                out["samples"].append((i + 1, vmrss(a.rss_pid)))
        out["messages"] = a.messages
        out["bytes_each_way"] = sent


def ws_client(a):
    out = {"what": "ws", "messages_expected": a.messages, "samples": [], "ok": False}
    t0 = time.time()
    try:
        asyncio.run(asyncio.wait_for(ws_run(a, out), a.timeout))
        out["ok"] = out.get("messages") == a.messages
    except Exception as e:  # noqa: BLE001 (any failure of the session is the result)
        out["error"] = f"{type(e).__name__}: {e}"
    out["seconds"] = round(time.time() - t0, 3)
    out["samples"].append(("end", vmrss(a.rss_pid)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("origin")
    o.add_argument("--cert", required=True)
    o.add_argument("--key", required=True)
    o.add_argument("--sse-port", type=int, required=True)
    o.add_argument("--ws-port", type=int, required=True)
    for name in ("sse", "ws"):
        c = sub.add_parser(name)
        c.add_argument("--proxy", required=True)
        c.add_argument("--cacert", required=True)
        c.add_argument("--url", required=True)
        c.add_argument("--rss-pid", type=int, required=True)
        c.add_argument("--every", type=int, default=10000 if name == "sse" else 500)
        c.add_argument("--timeout", type=float, default=300)
        if name == "ws":
            c.add_argument("--messages", type=int, default=10000)
    a = ap.parse_args()
    if a.cmd == "origin":
        try:
            asyncio.run(origin(a))
        except KeyboardInterrupt:
            pass
        return 0
    res = sse_client(a) if a.cmd == "sse" else ws_client(a)
    print(json.dumps(res))
    return 0 if res["ok"] else 3


if __name__ == "__main__":
    sys.exit(main())
