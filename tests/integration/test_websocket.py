"""WebSocket through intercepted TLS (python3-websockets on both ends): the
upgrade is relayed, every message, fragmented message, ping and close goes
through untouched, and each becomes an event (ws_message, ws_turn, ws_close);
a large message with a small limit keeps memory bounded."""
import asyncio
import base64
import hashlib
import os
import socket
import ssl
import threading

import websockets

from smlib import (ADMIN, DEADLINE, Proxy, Server, admin_port, check, check_event_order,
                   connect_via, parse, run_tests, scrape, total)
from tlslab import Lab

LAB = Lab()


class EchoServer:
    """A TLS WebSocket echo server on its own event loop thread."""

    def __init__(self):
        crt, key = LAB.leaf("ws")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def echo(ws, path=None):
            async for msg in ws:
                await ws.send(msg)

        async def main():
            self.server = await websockets.serve(echo, "127.0.0.1", 0, ssl=ctx,
                                                 max_size=4 << 20)
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()
        self.thread = threading.Thread(target=lambda: (self.loop.run_until_complete(main()),
                                                       self.loop.run_forever()), daemon=True)
        self.thread.start()
        check(ready.wait(DEADLINE), "ws server did not start")

    def close(self):
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def proxy(extra=()):
    cadir = os.path.join(LAB.dir, "ca")
    p = Proxy(args=["--set", "default_action=intercept", "--ca-dir", cadir, "--upstream-ca", LAB.ca,
                    "--set", "tls.system_ca="] + list(extra))
    p.ca = os.path.join(cadir, "ca.pem")
    return p


def session(p, port, script, compression=None):
    """Runs script(ws) on a WebSocket opened through the proxy's CONNECT."""
    s, status, _ = connect_via(p.port, "localhost:%d" % port)
    check(status.startswith("HTTP/1.1 200"), status)
    ctx = ssl.create_default_context(cafile=p.ca)

    async def run():
        async with websockets.connect("wss://localhost:%d/chat" % port, sock=s, ssl=ctx,
                                      server_hostname="localhost", max_size=4 << 20,
                                      compression=compression) as ws:
            await script(ws)
    asyncio.run(asyncio.wait_for(run(), DEADLINE))


def test_messages_fragments_ping_and_close_are_relayed_and_observed():
    srv = EchoServer()
    with proxy() as p:
        async def script(ws):
            await ws.send("hello")
            check(await ws.recv() == "hello", "text echo")
            await ws.send(b"\x00\x01binary")
            check(await ws.recv() == b"\x00\x01binary", "binary echo")
            await ws.send(["frag-", "ment", "ed"])  # one message in three frames
            check(await ws.recv() == "frag-mented", "fragmented echo")
            pong = await ws.ping(b"p")
            await asyncio.wait_for(pong, DEADLINE)
            await ws.close(code=1000, reason="bye")
        session(p, srv.port, script)
        evs = p.wait_events(lambda evs: any(e["type"] == "flow_closed" for e in evs), "close")
        check_event_order(evs)
        resp = [(e["status"], e["method"], e["request_index"]) for e in evs
                if e["type"] == "http_response"]
        check(resp == [(101, "GET", 1)], "the 101 answers its request: %s" % resp)
        msgs = [(e["dir"], e["opcode"], e["length"], e["excerpt"]) for e in evs
                if e["type"] == "ws_message"]
        c, s_ = "client_to_server", "server_to_client"
        want = [(c, 1, 5, "hello"), (s_, 1, 5, "hello"), (c, 2, 8, "\x00\x01binary"),
                (s_, 2, 8, "\x00\x01binary"), (c, 1, 11, "frag-mented"), (s_, 1, 11, "frag-mented")]
        check(msgs == want, "messages: %s" % msgs)
        closes = [e for e in evs if e["type"] == "ws_close"]
        check(len(closes) == 1 and closes[0]["closed_by"] == c and closes[0]["code"] == 1000 and
              closes[0]["reason"] == "bye", closes)
        turns = [(e["dir"], e["messages"]) for e in evs if e["type"] == "ws_turn"]
        check(len(turns) >= 6 and turns[0] == (c, 1) and turns[1] == (s_, 1), turns)
    srv.close()


def test_large_message_with_small_limit_stays_bounded():
    srv = EchoServer()
    with proxy(["--set", "observe.max_message_bytes=65536", "--set", "observe.excerpt_bytes=16"]) as p:
        big = "x" * (1 << 20)

        async def script(ws):
            await ws.send(big)
            check(await ws.recv() == big, "1 MiB message relayed intact")
            await ws.close()
        session(p, srv.port, script)
        evs = p.wait_events(lambda evs: any(e["type"] == "flow_closed" for e in evs), "close")
        msgs = [e for e in evs if e["type"] == "ws_message"]
        check(len(msgs) == 2 and all(m["length"] == 1 << 20 for m in msgs), msgs)
        check(all(len(m["excerpt"]) <= 16 for m in msgs), "excerpt bounded: %s" % msgs)
    srv.close()


def test_permessage_deflate_messages_are_decoded():
    """python3-websockets negotiates permessage-deflate with context takeover
    (and client_max_window_bits): every message, the later ones referring to
    the earlier ones' window, is reported decoded, compressed=1."""
    srv = EchoServer()
    with proxy() as p:
        texts = ["squeeze me " * 20, "squeeze me " * 21 + "!", "tiny", "squeeze me " * 3]
        blob = bytes(range(256)) * 8

        async def script(ws):
            for t in texts:
                await ws.send(t)
                check(await ws.recv() == t, "echo through deflate")
            await ws.send(blob)
            check(await ws.recv() == blob, "binary echo through deflate")
            await ws.close()
        session(p, srv.port, script, compression="deflate")
        evs = p.wait_events(lambda evs: any(e["type"] == "flow_closed" for e in evs), "close")
        check_event_order(evs)
        msgs = [e for e in evs if e["type"] == "ws_message"]
        check(len(msgs) == 10 and all(m["compressed"] == 1 for m in msgs), msgs)
        check(not [e for e in evs if e["type"] == "parse_error"], evs)
        want = [t for t in texts for _ in (0, 1)]
        for m, t in zip(msgs, want):
            check(m["decoded_length"] == len(t) and m["excerpt"] == t[:64], (m, t))
            check(m["length"] < len(t) or len(t) < 10, "wire length is the compressed one %s" % m)
        for m in msgs[8:]:
            check(m["opcode"] == 2 and m["decoded_length"] == len(blob), m)
            check(m["excerpt"] == blob[:64].decode("latin-1"), m)
        check(all(m["stream"] == 0 for m in msgs), msgs)
    srv.close()


def test_permessage_deflate_bomb_is_bounded_and_counted():
    """A 1 MiB message compressed to ~1 KiB with a 64 KiB budget: relayed
    intact, but its inflating stops at the budget (parse_error bomb, counted
    as decode_bomb); context takeover: the window is lost, so the next
    message of each direction is reported undecoded (decoded_length -1)."""
    srv = EchoServer()
    with proxy(["--set", "observe.max_message_bytes=65536"] + ADMIN) as p:
        big = "x" * (1 << 20)

        async def script(ws):
            await ws.send(big)
            check(await ws.recv() == big, "bomb relayed intact")
            await ws.send("after")
            check(await ws.recv() == "after", "next message relayed")
            await ws.close()
        session(p, srv.port, script, compression="deflate")
        evs = p.wait_events(lambda evs: any(e["type"] == "flow_closed" for e in evs), "close")
        check_event_order(evs)
        errs = [(e["dir"], e["stage"], e["module"], e["reason"], e["fatal"]) for e in evs
                if e["type"] == "parse_error"]
        c, s_ = "client_to_server", "server_to_client"
        check(sorted(errs) == [(c, "content", "permessage-deflate", "bomb", 0),
                               (s_, "content", "permessage-deflate", "bomb", 0)], errs)
        msgs = [e for e in evs if e["type"] == "ws_message"]
        check(len(msgs) == 4, msgs)
        bombs = [m for m in msgs if m["decoded_length"] == 65536]
        check(len(bombs) == 2 and all(m["length"] < 65536 and m["compressed"] == 1 and
                                      m["excerpt"] == "x" * 64 for m in bombs), msgs)
        after = [m for m in msgs if m["decoded_length"] == -1]
        check(len(after) == 2 and all(m["compressed"] == 1 for m in after), msgs)
        m = parse(scrape(admin_port(p)))
        check(total(m, "soth_parser_errors_total", stage="decode_bomb") == 2, "decode_bomb")
    srv.close()


def frame(b0, payload, mask=None):
    """One frame (payloads < 126 bytes), masked with mask when given."""
    if mask is None:
        return bytes([b0, len(payload)]) + payload
    return bytes([b0, 0x80 | len(payload)]) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))


def read_until(s, end):
    data = b""
    while not data.endswith(end):
        chunk = s.recv(65536)
        check(chunk, "connection closed early: %r" % data[-200:])
        data += chunk
    return data


def test_framing_errors_resynchronise_and_cut_messages_are_reported():
    """Through a plain absolute-form upgrade to an origin that accepts
    anything (python3-websockets would close on the first bad frame), each
    direction carries a frame with an error (client: unmasked; server: RSV2),
    then a good message, then the start of a message the connection's end
    cuts (the origin closes with FIN, the client resets): the bad frame is a
    non-fatal parse_error, the good message after it is still reported, and
    each cut message is reported with what was seen, after a parse_error
    truncated."""
    mask = b"\x01\x02\x03\x04"
    up = (frame(0x81, b"bad") + frame(0x81, b"after", mask) + frame(0x01, b"cu", mask))
    down = (frame(0xa1, b"junk") + frame(0x81, b"srv-ok") + frame(0x01, b"par")[:4])
    got = {}

    def origin(c):
        head = read_until(c, b"\r\n\r\n")
        key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
               if l.lower().startswith(b"sec-websocket-key:")][0]
        acc = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                               .digest())
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
        data = b""
        while len(data) < len(up):
            chunk = c.recv(65536)
            check(chunk, "origin: client bytes cut short: %r" % data)
            data += chunk
        got["up"] = data
        c.sendall(down)  # then FIN, inside a message
    srv = Server(origin)
    with Proxy() as p:
        s = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
        s.sendall(b"GET http://127.0.0.1:%d/chat HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                  b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Version: 13\r\n\r\n" % (srv.port, srv.port))
        head = read_until(s, b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 101"), head)
        s.sendall(up)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        check(data == down, "origin bytes relayed untouched: %r" % data)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # RST, inside the client's last message
        evs = p.wait_events(lambda evs: any(e["type"] == "flow_closed" for e in evs), "close")
        check_event_order(evs)
        check(got.get("up") == up, "client bytes relayed untouched: %r" % got.get("up"))
        c, s_ = "client_to_server", "server_to_client"
        seen = [(e["dir"], e["type"], e.get("reason"), e.get("fatal"), e.get("excerpt"),
                 e.get("length")) for e in evs if e["type"] in ("parse_error", "ws_message")]
        for d in (c, s_):
            mine = [x[1:] for x in seen if x[0] == d]
            bad, good, cut = ("mask_required", "after", "cu") if d == c else \
                ("rsv_bits", "srv-ok", "pa")
            want = [("parse_error", bad, 0, None, None),
                    ("ws_message", None, None, good, len(good)),
                    ("parse_error", "truncated", 0, None, None),
                    ("ws_message", None, None, cut, len(cut))]
            check(mine == want, "%s: %s, want %s" % (d, mine, want))
        errs = [e for e in evs if e["type"] == "parse_error"]
        check(all(e["stage"] == "framing" and e["module"] == "websocket" for e in errs), errs)
    srv.close()


if __name__ == "__main__":
    run_tests([test_messages_fragments_ping_and_close_are_relayed_and_observed,
               test_large_message_with_small_limit_stays_bounded,
               test_permessage_deflate_messages_are_decoded,
               test_permessage_deflate_bomb_is_bounded_and_counted,
               test_framing_errors_resynchronise_and_cut_messages_are_reported])
