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

import asyncio
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


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")  # the stream's limit (MAX_HEAD) bounds it


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


def _no_delay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small frames go out now


class SubprotocolShim:
    """Listens on ``host:port`` and forwards every connection to the SDK server on loopback."""

    def __init__(self, host: str, port: int, backend_port: int, backend_host: str = "127.0.0.1"):
        self.host, self.port = host, port
        self.backend = (backend_host, backend_port)
        self.legacy_connections = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="ws_shim")

    def start(self) -> int:
        """Bind (raises OSError when the port is taken) and serve; returns the bound port."""
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, self.host, self.port, limit=MAX_HEAD)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._thread.start()
        return self.port

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(_read_head(c_reader), 10.0)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            c_writer.close()
            return
        req = rewrite_request(head)
        try:
            s_reader, s_writer = await asyncio.open_connection(*self.backend, limit=MAX_HEAD)
        except OSError:
            c_writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            c_writer.close()
            return
        _no_delay(c_writer)
        _no_delay(s_writer)
        s_writer.write(req.head)
        if req.legacy:
            self.legacy_connections += 1
            try:
                answer = await asyncio.wait_for(_read_head(s_reader), 10.0)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
                c_writer.close()
                s_writer.close()
                return
            c_writer.write(rewrite_response(answer))
        await asyncio.gather(_pipe(c_reader, s_writer), _pipe(s_reader, c_writer))

    def stop(self) -> None:
        if self._server is None:
            return

        async def _close() -> None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(_close(), self._loop).result(timeout=2.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=2.0)
        self._server = None
