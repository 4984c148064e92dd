"""Let ``foxglove.websocket.v1`` clients talk to the foxglove-sdk server (which speaks ``foxglove.sdk.v1``).

foxglove-sdk (every release up to 0.30.3, the one pinned here) accepts only the subprotocols
``foxglove.sdk.v1`` / ``foxglove.sdk.v1.1`` and answers HTTP 400 to a client that offers only
``foxglove.websocket.v1``: Lichtblick up to 1.21, the ``@foxglove/ws-protocol`` npm client and tools
built on it. The messages of the two subprotocols are the same (JSON ops ``serverInfo``,
``advertise``, ``subscribe``, ... and binary opcode 0x01 message data), so the smallest conforming
fix is at the handshake: this TCP front rewrites the ``Sec-WebSocket-Protocol`` header of the
upgrade request (websocket.v1 -> sdk.v1) and of the server's answer (back to websocket.v1), then
copies bytes both ways untouched. ``Sec-WebSocket-Accept`` depends only on the client's key, so the
handshake stays valid (RFC 6455 §4.2.2). A client offering sdk.v1 passes through unchanged and gets
what the SDK chooses; a request offering neither passes through and is refused by the SDK as before.
"""

from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass

LEGACY = "foxglove.websocket.v1"
SDK_PROTOCOLS = ("foxglove.sdk.v1", "foxglove.sdk.v1.1")
MAX_HEAD = 16384  # bytes of HTTP request/response head we accept (browsers send ~1 KiB)
_PROTO_RE = re.compile(rb"^sec-websocket-protocol[ \t]*:(.*)$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Rewrite:
    head: bytes  # the head to forward
    legacy: bool  # the client spoke websocket.v1 only: rewrite the answer back


def offered_protocols(head: bytes) -> list[str]:
    """Subprotocols offered in an HTTP head (the header may repeat and lists are comma-separated)."""
    out: list[str] = []
    for m in _PROTO_RE.finditer(head.replace(b"\r\n", b"\n")):
        out += [p.strip().decode("latin-1") for p in m.group(1).split(b",") if p.strip()]
    return out


def _replace_protocol_header(head: bytes, value: str) -> bytes:
    lines = head.split(b"\r\n")
    kept = [ln for ln in lines if not ln.lower().startswith(b"sec-websocket-protocol")]
    # the head ends with b"" b"" (the blank line): insert before them
    end = len(kept)
    while end > 0 and kept[end - 1] == b"":
        end -= 1
    kept.insert(end, b"Sec-WebSocket-Protocol: " + value.encode("latin-1"))
    return b"\r\n".join(kept)


def rewrite_request(head: bytes) -> Rewrite:
    offered = offered_protocols(head)
    if LEGACY in offered and not any(p in offered for p in SDK_PROTOCOLS):
        return Rewrite(_replace_protocol_header(head, SDK_PROTOCOLS[0]), True)
    return Rewrite(head, False)


def rewrite_response(head: bytes) -> bytes:
    """The server accepted sdk.v1 for a legacy client: tell the client it got websocket.v1."""
    if SDK_PROTOCOLS[0] in offered_protocols(head):
        return _replace_protocol_header(head, LEGACY)
    return head  # a refusal (400) or anything else goes back as it is


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """An HTTP head (up to and including the blank line) and whatever arrived after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEAD:
            raise ValueError("HTTP head too long")
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        data += chunk
    end = data.index(b"\r\n\r\n") + 4
    return data[:end], data[end:]


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy bytes until EOF or an error, then pass the end on. Blocking calls release the GIL, so the
    bridge's ROS callbacks run while frames are in flight (an asyncio loop cost ~2x the CPU here)."""
    buf = bytearray(65536)
    view = memoryview(buf)
    try:
        while n := src.recv_into(buf):
            dst.sendall(view[:n])
    except OSError:
        pass
    finally:
        for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass


class SubprotocolShim:
    """Listens on ``host:port`` and forwards every connection to the SDK server on loopback, two
    threads per connection (a Foxglove server has a handful of clients)."""

    def __init__(self, host: str, port: int, backend_port: int, backend_host: str = "127.0.0.1"):
        self.host, self.port = host, port
        self.backend = (backend_host, backend_port)
        self.legacy_connections = 0
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> int:
        """Bind (raises OSError when the port is taken) and serve; returns the bound port."""
        lst = socket.create_server((self.host, self.port), reuse_port=False)
        lst.settimeout(0.5)  # to notice stop()
        self._listener = lst
        self.port = lst.getsockname()[1]
        threading.Thread(target=self._accept_loop, daemon=True, name="ws_shim").start()
        return self.port

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True, name="ws_shim_conn").start()

    def _handle(self, client: socket.socket) -> None:
        backend = None
        try:
            client.settimeout(10.0)  # the handshake must come promptly; the stream afterwards may idle
            head, rest = _read_head(client)
            req = rewrite_request(head)
            backend = socket.create_connection(self.backend, timeout=10.0)
            for sock in (client, backend):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small frames go out now
            backend.sendall(req.head + rest)
            if req.legacy:
                self.legacy_connections += 1
                answer, more = _read_head(backend)
                client.sendall(rewrite_response(answer) + more)
            client.settimeout(None)
            backend.settimeout(None)
        except (OSError, ValueError):
            if backend is None:
                try:
                    client.sendall(
                        b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                except OSError:
                    pass
            for sock in (client, backend):
                if sock is not None:
                    sock.close()
            return
        with self._lock:
            self._conns.update((client, backend))
        up = threading.Thread(target=_pump, args=(client, backend), daemon=True, name="ws_shim_up")
        up.start()
        _pump(backend, client)
        up.join()
        with self._lock:
            self._conns.difference_update((client, backend))
        client.close()
        backend.close()

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            conns = list(self._conns)
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
