"""RFC 8441 WebSocket over HTTP/2 through intercepted TLS: a python3-h2
origin that offers SETTINGS_ENABLE_CONNECT_PROTOCOL=1 and accepts
`:protocol websocket`, and a python3-h2 client through the proxy (CONNECT,
our CA, ALPN h2) sending hand-made WebSocket frames (masked, one compressed
with permessage-deflate, fragmented, a ping and a close). The bytes arrive
on both sides and the stream's frames become ws_message / ws_turn / ws_close
events with its stream id."""
import os
import socket
import ssl
import struct
import zlib

import h2.config
import h2.connection
import h2.events
import h2.settings

from smlib import DEADLINE, Proxy, Server, check, check_event_order, connect_via, run_tests
from tlslab import Lab

LAB = Lab()
EXT = "permessage-deflate; client_no_context_takeover"


def frame(op, payload, fin=True, rsv1=False, mask=True):
    """One WebSocket frame (RFC 6455 5.2)."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | op
    n = len(payload)
    mb = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mb | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mb | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mb | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(c ^ key[i & 3] for i, c in enumerate(payload))


def deflate(msg):
    """permessage-deflate with no context takeover: a fresh compressor."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(msg) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def parse_frames(buf):
    """Complete frames at the start of buf: ([(b0, payload)], rest)."""
    out = []
    while len(buf) >= 2:
        b0, b1 = buf[0], buf[1]
        n, at = b1 & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, at = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, at = struct.unpack("!Q", buf[2:10])[0], 10
        key = None
        if b1 & 0x80:
            key, at = buf[at:at + 4], at + 4
        if len(buf) < at + n:
            break
        pl = buf[at:at + n]
        if key:
            pl = bytes(c ^ key[i & 3] for i, c in enumerate(pl))
        out.append((b0, pl))
        buf = buf[at + n:]
    return out, buf


def ws_origin(cert, key, seen):
    """Accepts extended CONNECT websocket streams and echoes every frame back
    unmasked (compressed ones keep RSV1: with no context takeover the same
    bytes decode alone); records what it received in `seen`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2"])

    def handle(c):
        try:
            t = ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError):
            return
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        conn.update_settings({h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1})
        t.sendall(conn.data_to_send())
        bufs = {}
        while True:
            try:
                data = t.recv(65536)
            except OSError:
                break
            if not data:
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    hdr = dict(ev.headers)
                    ok = hdr.get(b":method") == b"CONNECT" and hdr.get(b":protocol") == b"websocket"
                    seen.append(("request", hdr.get(b":protocol"), hdr.get(b":path")))
                    resp = [(":status", "200" if ok else "400")]
                    if ok and b"permessage-deflate" in hdr.get(b"sec-websocket-extensions", b""):
                        resp.append(("sec-websocket-extensions", EXT))
                    conn.send_headers(ev.stream_id, resp, end_stream=not ok)
                    bufs[ev.stream_id] = b""
                elif isinstance(ev, h2.events.DataReceived):
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    frames, bufs[ev.stream_id] = parse_frames(bufs[ev.stream_id] + ev.data)
                    for b0, pl in frames:
                        seen.append(("frame", b0, pl))
                        op = b0 & 0x0F
                        if op == 9:
                            out = frame(10, pl, mask=False)
                        else:
                            out = frame(op, pl, fin=bool(b0 & 0x80), rsv1=bool(b0 & 0x40),
                                        mask=False)
                        conn.send_data(ev.stream_id, out, end_stream=False)
                elif isinstance(ev, h2.events.StreamEnded):
                    conn.end_stream(ev.stream_id)
            try:
                t.sendall(conn.data_to_send())
            except OSError:
                break
        t.close()
    return Server(handle)


def h2_client(p, port):
    """TLS through the proxy's CONNECT; returns (tls socket, H2Connection)
    once the proxy has offered extended CONNECT."""
    s, status, _ = connect_via(p.port, "localhost:%d" % port)
    check(status.startswith("HTTP/1.1 200"), status)
    ctx = ssl.create_default_context(cafile=p.ca)
    ctx.set_alpn_protocols(["h2"])
    t = ctx.wrap_socket(s, server_hostname="localhost")
    check(t.selected_alpn_protocol() == "h2", "ALPN h2 with the proxy")
    t.settimeout(DEADLINE)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    t.sendall(conn.data_to_send())
    while not conn.remote_settings.enable_connect_protocol:
        data = t.recv(65536)
        check(data, "proxy closed before offering extended CONNECT")
        conn.receive_data(data)
        t.sendall(conn.data_to_send())
    return t, conn


def pump(t, conn, sid, want, buf=b""):
    """Reads until `want` frames arrived on stream sid."""
    got = []
    while len(got) < want:
        data = t.recv(65536)
        check(data, "connection closed early")
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                frames, buf = parse_frames(buf + ev.data)
                got += frames
            elif isinstance(ev, h2.events.ResponseReceived):
                got.append(("response", dict(ev.headers)))
        t.sendall(conn.data_to_send())
    return got


def test_websocket_over_h2_is_relayed_and_observed():
    crt, key = LAB.leaf("h2ws")
    seen = []
    srv = ws_origin(crt, key, seen)
    cadir = os.path.join(LAB.dir, "ca")
    with Proxy(args=["--set", "default_action=intercept", "--ca-dir", cadir, "--upstream-ca",
                     LAB.ca, "--set", "tls.system_ca="], threads=1) as p:
        p.ca = os.path.join(cadir, "ca.pem")
        t, conn = h2_client(p, srv.port)
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"),
                                (":scheme", "https"), (":path", "/chat"),
                                (":authority", "localhost:%d" % srv.port),
                                ("sec-websocket-version", "13"),
                                ("sec-websocket-extensions", "permessage-deflate")])
        t.sendall(conn.data_to_send())
        resp = pump(t, conn, sid, 1)[0]
        check(resp[0] == "response" and resp[1][b":status"] == b"200", resp)
        check(resp[1].get(b"sec-websocket-extensions") == EXT.encode(), resp)

        squeezed = b"squeeze me over h2 " * 10
        frames = [frame(1, b"hello h2"), frame(2, b"\x00\x01bin"),
                  frame(1, deflate(squeezed), rsv1=True),
                  frame(1, b"frag-", fin=False), frame(0, b"mented"),
                  frame(9, b"p"), frame(8, struct.pack("!H", 1000) + b"bye")]
        conn.send_data(sid, b"".join(frames))
        t.sendall(conn.data_to_send())
        echoed = pump(t, conn, sid, len(frames))
        want = [(0x81, b"hello h2"), (0x82, b"\x00\x01bin"), (0xC1, deflate(squeezed)),
                (0x01, b"frag-"), (0x80, b"mented"), (0x8A, b"p"),
                (0x88, struct.pack("!H", 1000) + b"bye")]
        check(echoed == want, "echo: %s" % echoed)
        sent = [w if w[0] != 0x8A else (0x89, w[1]) for w in want]  # the origin got the ping
        check([x[1:] for x in seen if x[0] == "frame"] == sent, "origin got: %s" % seen)
        conn.end_stream(sid)
        t.sendall(conn.data_to_send())
        pump_end = 0
        while pump_end < 1:
            data = t.recv(65536)
            if not data:
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    pump_end = 1
        conn.close_connection()
        t.sendall(conn.data_to_send())
        t.close()

        evs = p.wait_events(lambda evs: any(e["type"] == "flow_closed" for e in evs), "close")
        check_event_order(evs)
        reqs = [e for e in evs if e["type"] == "proxy_request" and e["method"] == "CONNECT" and
                e["stream"] == sid]
        check(len(reqs) == 1, "extended CONNECT reported: %s" % evs)
        msgs = [(e["dir"], e["opcode"], e["decoded_length"], e["compressed"], e["excerpt"],
                 e["stream"]) for e in evs if e["type"] == "ws_message"]
        c, s_ = "client_to_server", "server_to_client"
        sq = squeezed[:64].decode()
        wantm = []
        for d in (c, s_):
            wantm += [(d, 1, 8, 0, "hello h2", sid), (d, 2, 5, 0, "\x00\x01bin", sid),
                      (d, 1, len(squeezed), 1, sq, sid), (d, 1, 11, 0, "frag-mented", sid)]
        check(sorted(msgs) == sorted(wantm), "messages: %s" % msgs)
        check([m for m in msgs if m[0] == c] == wantm[:4], "client order: %s" % msgs)
        check(not [e for e in evs if e["type"] == "parse_error"], evs)
        closes = [e for e in evs if e["type"] == "ws_close"]
        check(len(closes) == 1 and closes[0]["closed_by"] == c and closes[0]["code"] == 1000 and
              closes[0]["reason"] == "bye" and closes[0]["stream"] == sid, closes)
        turns = [e for e in evs if e["type"] == "ws_turn"]
        check(turns and all(e["stream"] == sid for e in turns), turns)
        check(sum(e["messages"] for e in turns) == 8, turns)
    srv.close()


if __name__ == "__main__":
    run_tests([test_websocket_over_h2_is_relayed_and_observed])
