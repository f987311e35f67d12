"""A certificate lab on loopback: a test CA, leaves that are valid, expired,
not yet valid, for the wrong name, signed by an unknown CA, TLS servers
that misbehave in each way a real server can (alert, stall, EOF, reset,
ALPN, old version), and clients that refuse the proxy's certificate in each
way a real client does (alert, close, reset)."""
import os
import socket
import ssl
import subprocess
import tempfile
import threading

from smlib import DEADLINE, Failure, Server, check, connect_via


def _run(*args):
    subprocess.run(list(args), check=True, capture_output=True, timeout=DEADLINE)


class Lab:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sm-lab-")
        self.ca_key, self.ca = self._ca("Lab Root CA")
        self.rogue_key, self.rogue = self._ca("Rogue CA")
        self.certs = {}

    def path(self, name):
        return os.path.join(self.dir, name)

    def _ca(self, cn):
        key, crt = self.path(cn.replace(" ", "_") + ".key"), self.path(cn.replace(" ", "_") + ".pem")
        _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", key, "-out", crt, "-days", "3", "-subj", "/CN=" + cn)
        return key, crt

    def leaf(self, name, san="DNS:localhost,IP:127.0.0.1", start=None, end=None, rogue=False):
        """A leaf signed by the lab CA (or the rogue one); start/end as
        openssl dates (YYYYMMDDHHMMSSZ) for expired/not-yet-valid."""
        key, csr, crt = self.path(name + ".key"), self.path(name + ".csr"), self.path(name + ".pem")
        _run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
        ext = self.path(name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\n" % san)
        ca_key, ca = (self.rogue_key, self.rogue) if rogue else (self.ca_key, self.ca)
        if start or end:
            # openssl ca honours explicit dates; x509 -req does not
            conf = self.path(name + ".cnf")
            db = self.path(name + ".db")
            open(db, "w").close()
            with open(conf, "w") as f:
                f.write("[ca]\ndefault_ca=c\n[c]\ndatabase=%s\nnew_certs_dir=%s\nserial=%s\n"
                        "default_md=sha256\npolicy=p\ncopy_extensions=copy\nunique_subject=no\n"
                        "[p]\ncommonName=supplied\n" % (db, self.dir, self.path(name + ".srl")))
            with open(self.path(name + ".srl"), "w") as f:
                f.write("1000\n")
            _run("openssl", "ca", "-batch", "-config", conf, "-cert", ca, "-keyfile", ca_key,
                 "-in", csr, "-out", crt, "-startdate", start, "-enddate", end,
                 "-extfile", ext, "-notext")
        else:
            _run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                 "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
        return crt, key


def http_responder(body=b"hello from the origin\n"):
    """Reads HTTP/1.1 requests on a (TLS) socket and answers each, keep-alive."""
    def h(c):
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                b = c.recv(65536)
                if not b:
                    return
                buf += b
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            n = 0
            for l in lines[1:]:
                if l.lower().startswith(b"content-length:"):
                    n = int(l.split(b":")[1])
            while len(buf) < n:
                buf += c.recv(65536)
            req_body, buf = buf[:n], buf[n:]
            path = lines[0].split(b" ")[1]
            out = body + b"path=" + path + b" body=%d\n" % len(req_body)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(out) + out)
    return h


def tls_server(cert, key, handler=None, alpn=None, max_version=None, min_version=None,
               keylog=None, host="127.0.0.1"):
    """A TLS origin on host; srv.snis lists the SNI of each ClientHello
    (None when the client sent none)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    snis = []

    def on_sni(sock, name, c):
        snis.append(name)
    ctx.sni_callback = on_sni
    ctx.load_cert_chain(cert, key)
    if keylog:
        ctx.keylog_filename = keylog
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if max_version:
        ctx.maximum_version = max_version
    if min_version:
        ctx.minimum_version = min_version
    handler = handler or http_responder()

    def h(c):
        try:
            t = ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with t:
            handler(t)
    srv = Server(h, host)
    srv.snis = snis
    return srv


def raw_server(behaviour):
    """A TCP server that reads the ClientHello then: 'alert' (fatal
    handshake_failure), 'no_alpn' (fatal no_application_protocol, what a
    server that only accepts another protocol sends), 'stall' (never
    answers), 'eof' (closes), 'reset' (RST)."""
    release = threading.Event()

    def h(c):
        c.recv(4096)
        if behaviour in ("alert", "no_alpn"):
            code = 40 if behaviour == "alert" else 120
            c.sendall(bytes([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, code]))
            c.recv(4096)
        elif behaviour == "stall":
            release.wait(DEADLINE)
        elif behaviour == "reset":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        # eof: just close
    srv = Server(h)
    srv.release = release
    return srv


def refusing_client(proxy_port, target, then, cafile, name="localhost"):
    """A client (Python's ssl: OpenSSL) that does not trust the proxy's CA
    (it trusts cafile): CONNECT target, ClientHello, the proxy's flight read
    until OpenSSL's verification refuses it. then: 'alert' sends the alert
    OpenSSL made for it, 'close' closes without it, 'reset' resets without
    it. Returns the alert's bytes as OpenSSL wrote them."""
    s, status, _ = connect_via(proxy_port, target)
    check(" 200 " in status, status)
    ctx = ssl.create_default_context(cafile=cafile)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    t = ctx.wrap_bio(inc, out, server_hostname=name)
    while True:
        try:
            t.do_handshake()
            raise Failure("the client accepted the proxy's certificate")
        except ssl.SSLWantReadError:
            if out.pending:
                s.sendall(out.read())
            b = s.recv(65536)
            check(b, "the proxy closed before its certificate")
            inc.write(b)
        except ssl.SSLCertVerificationError:
            break
    alert = out.read()
    if then == "alert":
        s.sendall(alert)
    elif then == "reset":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    return alert
