"""A TLS HTTP/2 origin on loopback (python3-h2): answers every stream with
"h2:<path>" (POST: the body's length), one thread per connection."""
import socket
import ssl
import threading

import h2.config
import h2.connection
import h2.events

from smlib import Server


def h2_server(cert, key):
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
        t.sendall(conn.data_to_send())
        paths, bodies = {}, {}
        while True:
            data = t.recv(65536)
            if not data:
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    hdr = dict(ev.headers)
                    paths[ev.stream_id] = hdr.get(b":path", b"/")
                    bodies[ev.stream_id] = 0
                elif isinstance(ev, h2.events.DataReceived):
                    bodies[ev.stream_id] += len(ev.data)
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    sid = ev.stream_id
                    body = b"h2:" + paths[sid] + b" body=%d\n" % bodies[sid]
                    conn.send_headers(sid, [(":status", "200"), ("content-length", str(len(body))),
                                            ("content-type", "text/plain")])
                    conn.send_data(sid, body, end_stream=True)
            t.sendall(conn.data_to_send())
        t.close()
    return Server(handle)


def pattern(n):
    """Deterministic body bytes: byte i = (i * 7 + 3) & 0xff."""
    return bytes((i * 7 + 3) & 0xff for i in range(n))


def h2_echo_server(cert, key, host="127.0.0.1"):
    """A TLS origin offering only h2: GET /size/N -> N pattern bytes with a
    content-length; /chunked/N -> the same without one (a proxy must frame
    it); /trailers -> "ok" then trailers x-t: done; POST -> the body echoed.
    srv.conns counts connections, srv.reqs lists (method, path, headers)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2"])
    srv = None

    def handle(c):
        try:
            t = ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError):
            return
        srv.conns += 1
        srv.alpn.append(t.selected_alpn_protocol())
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        t.sendall(conn.data_to_send())
        reqs, bodies, out = {}, {}, {}

        def pump(sid):
            data, trailers = out[sid]
            while data:
                room = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if room <= 0:
                    break
                conn.send_data(sid, data[:room])
                data = data[room:]
            out[sid] = (data, trailers)
            if not data:
                if trailers:
                    conn.send_headers(sid, trailers, end_stream=True)
                else:
                    conn.end_stream(sid)
                del out[sid]

        while True:
            try:
                data = t.recv(65536)
            except OSError:
                break
            if not data:
                break
            try:
                evs = conn.receive_data(data)
            except Exception:  # an HTTP/1.1 client talking to an h2-only server
                srv.garbage += 1
                break
            for ev in evs:
                if isinstance(ev, h2.events.RequestReceived):
                    hdr = [(k.decode(), v.decode()) for k, v in ev.headers]
                    reqs[ev.stream_id] = dict(hdr)
                    srv.reqs.append((reqs[ev.stream_id][":method"],
                                     reqs[ev.stream_id][":path"], hdr))
                    bodies[ev.stream_id] = b""
                elif isinstance(ev, h2.events.DataReceived):
                    bodies[ev.stream_id] += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    sid = ev.stream_id
                    path = reqs[sid][":path"]
                    hdrs = [(":status", "200"), ("server", "h2echo")]
                    trailers = None
                    if reqs[sid][":method"] == "POST":
                        body = bodies[sid]
                        hdrs.append(("content-length", str(len(body))))
                    elif path.startswith("/size/"):
                        body = pattern(int(path[6:]))
                        hdrs.append(("content-length", str(len(body))))
                    elif path.startswith("/chunked/"):
                        body = pattern(int(path[9:]))
                    else:
                        body = b"ok"
                        trailers = [("x-t", "done")]
                    conn.send_headers(sid, hdrs)
                    out[sid] = (body, trailers)
                    pump(sid)
                elif isinstance(ev, h2.events.WindowUpdated):
                    for sid in list(out):
                        pump(sid)
            t.sendall(conn.data_to_send())
        t.close()

    srv = Server(handle, host)
    srv.conns, srv.reqs, srv.alpn, srv.garbage = 0, [], [], 0
    return srv
