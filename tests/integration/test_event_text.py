"""Text in events is text: UTF-8 from a header value (a payload's content
type), an SSE event (its name and data line) and a WebSocket text message
comes out of --events as that UTF-8, as jq -r prints it; bytes that are not
UTF-8 come out as U+FFFD, never as mojibake, and every line stays JSON."""
import asyncio
import json
import socket
import subprocess
import threading

import websockets

from smlib import DEADLINE, Proxy, Server, check, run_tests

TEXT = "café ✓ 中文"


def get(p, port, path):
    s = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
    s.sendall(b"GET http://127.0.0.1:%d%s HTTP/1.1\r\nHost: x\r\n\r\n" % (port, path))
    return s


def read_until(s, end):
    data = b""
    while not data.endswith(end):
        chunk = s.recv(65536)
        check(chunk, "connection closed early: %r" % data[-200:])
        data += chunk
    return data


def jq(p, program):
    """What jq -r prints for the proxy's events file."""
    out = subprocess.run(["jq", "-r", program, p.events_path], capture_output=True, timeout=DEADLINE)
    check(out.returncode == 0, "jq failed: %s" % out.stderr)
    return out.stdout.decode("utf-8")


def test_sse_and_header_text_reach_jq_as_utf8():
    enc = TEXT.encode()

    def h(c):
        req = b""
        while b"\r\n\r\n" not in req:
            req += c.recv(4096)
        if b"/sse" in req:
            data = b"event: " + enc + b"\ndata: " + enc + b"\n\n"
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(data) + data)
        else:
            body = b'{"t": "' + enc + b'"}'
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json; x=" + enc +
                      b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    srv = Server(h)
    with Proxy() as p:
        for path in (b"/sse", b"/json"):
            s = get(p, srv.port, path)
            read_until(s, enc + (b"\n\n" if path == b"/sse" else b'"}'))
            s.close()
        p.wait_events(lambda evs: any(e["type"] == "sse_event" for e in evs) and
                      any(e["type"] == "payload" for e in evs), "sse_event and payload")
        check(jq(p, 'select(.type == "sse_event") | .excerpt') == TEXT + "\n", "sse data")
        check(jq(p, 'select(.type == "sse_event") | .event') == TEXT + "\n", "sse event name")
        check(jq(p, 'select(.type == "payload") | .content_type') ==
              "application/json; x=" + TEXT + "\n", "the Content-Type header")
        check(jq(p, 'select(.type == "payload") | .excerpt') == '{"t": "%s"}\n' % TEXT,
              "payload excerpt")
    srv.close()


def test_websocket_text_reaches_jq_as_utf8():
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state = {}

    async def echo(ws, path=None):
        async for msg in ws:
            await ws.send(msg)

    async def main():
        state["server"] = await websockets.serve(echo, "127.0.0.1", 0)
        state["port"] = state["server"].sockets[0].getsockname()[1]
        ready.set()
    th = threading.Thread(target=lambda: (loop.run_until_complete(main()), loop.run_forever()),
                          daemon=True)
    th.start()
    check(ready.wait(DEADLINE), "ws server did not start")
    with Proxy() as p:
        # an absolute-form upgrade through the proxy, spoken by hand
        s = socket.create_connection(("127.0.0.1", p.port), timeout=DEADLINE)
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        s.sendall(("GET http://127.0.0.1:%d/chat HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n" % (state["port"], state["port"], key))
                  .encode())
        head = read_until(s, b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 101"), head)
        payload = TEXT.encode()
        mask = b"\x01\x02\x03\x04"
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        frame = read_until(s, payload)
        check(frame[0] == 0x81 and frame[2:] == payload, "echoed frame: %r" % frame)
        s.sendall(bytes([0x88, 0x82]) + mask + bytes(b ^ mask[i] for i, b in
                                                     enumerate(b"\x03\xe8")))
        read_until(s, b"\x03\xe8")
        s.close()
        p.wait_events(lambda evs: sum(e["type"] == "ws_message" for e in evs) >= 2, "ws_message")
        check(jq(p, 'select(.type == "ws_message") | .excerpt') == (TEXT + "\n") * 2,
              "both directions' message")
    loop.call_soon_threadsafe(state["server"].close)
    loop.call_soon_threadsafe(loop.stop)
    th.join(5)


def test_bytes_that_are_not_utf8_become_replacement_characters():
    def h(c):
        req = b""
        while b"\r\n\r\n" not in req:
            req += c.recv(4096)
        data = b"data: caf\xe9 \xff\xfe ok\n\n"  # Latin-1, and bytes no UTF-8 has
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(data) + data)
    srv = Server(h)
    with Proxy() as p:
        s = get(p, srv.port, b"/latin1")
        read_until(s, b"ok\n\n")
        s.close()
        evs = p.wait_events(lambda evs: any(e["type"] == "sse_event" for e in evs), "sse_event")
        with open(p.events_path, "rb") as f:
            for line in f:
                json.loads(line.decode("utf-8"))  # every line is UTF-8 JSON
        sse = [e for e in evs if e["type"] == "sse_event"][0]
        check(sse["excerpt"] == "caf\ufffd \ufffd\ufffd ok", sse)
    srv.close()


if __name__ == "__main__":
    run_tests([test_sse_and_header_text_reach_jq_as_utf8, test_websocket_text_reaches_jq_as_utf8,
               test_bytes_that_are_not_utf8_become_replacement_characters])
