"""redis_bridge's Redis worker against a real redis-server: a stalled server (SIGSTOP) costs timeouts,
not a reconnect back-off, and never blocks the caller; a restarted server is found again.

No rates are asserted here (``make bench`` measures them); these are behaviours.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time

import pytest

redis = pytest.importorskip("redis", reason="python redis client not installed (scripts/setup.sh)")

from g1_bringup.redis_io import LinkConfig, RedisLink  # noqa: E402

EXE = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(EXE is None, reason="redis-server not installed (scripts/setup.sh)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [EXE, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    end = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            assert time.monotonic() < end, "redis-server did not start"
            time.sleep(0.05)


def _until(cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


@pytest.fixture
def server():
    port = _free_port()
    procs = [_server(port)]
    yield port, procs
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.terminate()
            p.wait(timeout=5)


def test_writes_queue_in_order_reads_poll_and_a_stalled_server_is_ridden_out(server):
    port, procs = server
    client = redis.Redis(host="127.0.0.1", port=port)
    logs: list[tuple[str, str]] = []
    cfg = LinkConfig(port=port, socket_timeout=0.2, poll_rate_hz=50.0, read_keys=("k_in",))
    link = RedisLink(cfg, lambda level, text: logs.append((level, text)))
    try:
        assert _until(lambda: link.connected, 5.0), logs
        for i in range(200):  # faster than any round trip: queued, sent in order in a few pipelines
            link.write({"a": str(i).encode(), "b": b"x"})
        assert link.flush(5.0)
        assert client.get("a") == b"199" and client.get("b") == b"x"
        assert link.stats.sets == link.stats.queued == 400 and link.stats.rounds < 200, link.stats
        client.set("k_in", b"[1.0]")
        assert _until(lambda: link.get("k_in") == b"[1.0]", 2.0)

        procs[0].send_signal(signal.SIGSTOP)  # the server stalls (a busy machine, at its worst)
        t0 = time.monotonic()
        for i in range(50):
            link.write({"a": f"stalled {i}".encode()})  # never waits for the server
            time.sleep(0.01)
        assert time.monotonic() - t0 < 5.0  # 50 x 10 ms of sleeping, not 50 timeouts
        assert _until(lambda: link.stats.timeouts >= 1, 3.0), logs
        procs[0].send_signal(signal.SIGCONT)
        assert link.flush(5.0)
        assert client.get("a") == b"stalled 49"
        assert link.stats.connects == 1 and link.stats.failures == 0, link.stats  # no reconnect cycle
    finally:
        link.close()


def test_a_server_that_goes_away_is_found_again(server):
    port, procs = server
    cfg = LinkConfig(port=port, socket_timeout=0.2, reconnect_s=0.2, poll_rate_hz=50.0, read_keys=("k",))
    link = RedisLink(cfg)
    try:
        redis.Redis(host="127.0.0.1", port=port).set("k", b"v")
        assert _until(lambda: link.get("k") == b"v", 3.0)
        procs[0].terminate()
        procs[0].wait(timeout=5)
        assert _until(lambda: not link.connected, 3.0)
        assert link.get("k") is None  # no server: no value, rather than a stale one
        link.write({"k2": b"written while down"})
        procs.append(_server(port))
        assert _until(lambda: link.connected, 5.0)
        assert link.flush(5.0)
        assert redis.Redis(host="127.0.0.1", port=port).get("k2") == b"written while down"
        assert link.stats.connects == 2 and link.stats.failures >= 1
    finally:
        link.close()
