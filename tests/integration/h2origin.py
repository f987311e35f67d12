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
