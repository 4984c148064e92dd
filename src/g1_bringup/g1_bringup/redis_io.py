"""The Redis side of redis_bridge on its own thread: writes never block the node, reads are polled.

Why (issue 23): the bridge used to talk to Redis from its ROS timers with a 0.05 s socket timeout.
On a busy machine one slow reply ("Timeout reading from socket") dropped the client, the next
attempt waited a whole reconnect period, and the TWIST output fell from 50 Hz to ~10 Hz. Here:

* one worker thread owns the connection; the node hands it values through a queue (``write`` never
  waits for the server) and reads the polled keys' latest values (``get``);
* each round sends all queued SETs, in order, in one pipeline: when the worker got no CPU for a
  while, the backlog goes out in one round trip and every value still reaches Redis (a TWIST reader
  polling the key sees the newest one, as it would have);
* while the server is unreachable the queue keeps only the newest value per key (``max_queue``
  bounds it), so a reconnect never replays seconds of stale history;
* a timeout is not a reason to reconnect later: redis-py drops that one socket and the next command
  opens a fresh one at once, and the unsent values are retried; only a refused or unreachable server
  makes the worker back off (``reconnect_s``);
* the socket timeout is long (default 1 s, see ``LinkConfig``) because it is not what keeps the node
  responsive any more; it only has to catch a dead server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LinkConfig:
    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    # 1 s: the slowest GET round trip measured with both cores saturated (3 CPU burners, load ~9) and
    # the server frozen 80 ms every second was 100-260 ms (make bench, redis section, 2026-12-04);
    # 0.05 s, the old value, fired on such stalls. Only a dead server gets near 1 s.
    socket_timeout: float = 1.0
    connect_timeout: float = 1.0
    reconnect_s: float = 1.0  # back-off while the server refuses or cannot be reached
    max_queue: int = 250  # writes held for the worker (5 s at 50 Hz); beyond that only the newest per key
    poll_rate_hz: float = 100.0  # GETs of the read keys per second
    read_keys: tuple[str, ...] = ()


@dataclass
class LinkStats:
    rounds: int = 0  # pipelines executed
    sets: int = 0  # values written
    queued: int = 0  # values handed to write()
    coalesced: int = 0  # values replaced by a newer one before they could be sent (server away)
    gets: int = 0
    timeouts: int = 0
    connects: int = 0  # successful (re)connections, including the first
    failures: int = 0  # failed connection attempts
    last_error: str = ""
    round_trip_s: list[float] = field(default_factory=list)  # the last ``keep`` pipeline round trips

    keep: int = 2000


def make_client(cfg: LinkConfig):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # no client-side retries: the worker decides (a retry loop inside redis-py would hide timeouts)
    return redis.Redis(
        host=cfg.host,
        port=cfg.port,
        db=cfg.db,
        socket_timeout=cfg.socket_timeout,
        socket_connect_timeout=cfg.connect_timeout,
        socket_keepalive=True,
        retry=Retry(NoBackoff(), 0),
    )


class RedisLink:
    """Owns one Redis client on a worker thread. ``log(level, text)`` reports connection changes."""

    def __init__(self, cfg: LinkConfig, log: Callable[[str, str], None] | None = None, client_factory=None):
        self.cfg = cfg
        self.stats = LinkStats()
        self._log = log or (lambda level, text: None)
        self._factory = client_factory or make_client
        self._cv = threading.Condition()
        self._pending: list[dict[str, bytes]] = []
        self._latest: dict[str, bytes | None] = dict.fromkeys(cfg.read_keys)
        self._connected = False
        self._stop = False
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, daemon=True, name="redis_link")
        self._thread.start()

    # ---------------------------------------------------------------- node side (never blocks on I/O)
    @property
    def connected(self) -> bool:
        return self._connected

    def write(self, values: dict[str, bytes]) -> None:
        with self._cv:
            self._pending.append(dict(values))
            self.stats.queued += len(values)
            if len(self._pending) > self.cfg.max_queue:
                self._pending = [self._coalesce(self._pending)]
            self._idle.clear()
            self._cv.notify()

    def _coalesce(self, batches: list[dict[str, bytes]]) -> dict[str, bytes]:
        merged: dict[str, bytes] = {}
        for b in batches:
            merged.update(b)
        self.stats.coalesced += sum(len(b) for b in batches) - len(merged)
        return merged

    def get(self, key: str) -> bytes | None:
        """The value of a read key at the last poll (None: missing, or the server is not reachable)."""
        with self._cv:
            return self._latest.get(key)

    def flush(self, timeout: float) -> bool:
        """Wait until every value handed to ``write`` was sent (or ``timeout`` passed)."""
        return self._idle.wait(timeout)

    def close(self, flush_timeout: float = 1.0) -> None:
        self.flush(flush_timeout)
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(timeout=self.cfg.socket_timeout + 1.0)

    # ---------------------------------------------------------------- worker
    def _run(self) -> None:
        client = None
        next_connect = 0.0
        next_poll = time.monotonic()
        poll_period = (
            1.0 / self.cfg.poll_rate_hz if self.cfg.read_keys and self.cfg.poll_rate_hz > 0 else None
        )
        while True:
            with self._cv:
                while not self._stop:
                    now = time.monotonic()
                    if client is None:
                        if now >= next_connect:
                            break
                        wake = next_connect
                    else:
                        if self._pending or (poll_period is not None and now >= next_poll):
                            break
                        wake = next_poll if poll_period is not None else None
                    self._cv.wait(timeout=None if wake is None else max(0.0, wake - now))
                if self._stop:
                    return
                writes, self._pending = self._pending, []
            now = time.monotonic()
            if client is None:
                client = self._connect()
                if client is None:
                    next_connect = time.monotonic() + self.cfg.reconnect_s
                    self._requeue(writes)
                    self._clear_reads()
                    continue
            do_poll = poll_period is not None and now >= next_poll
            if do_poll:
                next_poll = max(next_poll + poll_period, now)  # no burst of catch-up polls after a stall
            if not writes and not do_poll:
                continue
            try:
                self._round(client, writes, do_poll)
            except Exception as exc:
                if self._is_timeout(exc):
                    self.stats.timeouts += 1
                    self._log("warn", f"redis round trip timed out after {self.cfg.socket_timeout} s: {exc}")
                    self._requeue(writes)  # same client: redis-py reopens the socket on the next command
                else:
                    self.stats.last_error = f"{type(exc).__name__}: {exc}"
                    self._log("error", f"redis connection lost: {exc}; reconnecting")
                    self._connected = False
                    client = None
                    next_connect = time.monotonic()  # try again at once; back off if that fails
                    self._requeue(writes)
                    self._clear_reads()

    def _round(self, client, writes: list[dict[str, bytes]], do_poll: bool) -> None:
        pipe = client.pipeline(transaction=False)
        n_sets = 0
        for batch in writes:
            for key, value in batch.items():
                pipe.set(key, value)
                n_sets += 1
        keys = self.cfg.read_keys if do_poll else ()
        for key in keys:
            pipe.get(key)
        t0 = time.perf_counter()
        results = pipe.execute()
        rt = time.perf_counter() - t0
        s = self.stats
        s.rounds += 1
        s.sets += n_sets
        s.gets += len(keys)
        s.round_trip_s.append(rt)
        if len(s.round_trip_s) > s.keep:
            del s.round_trip_s[: len(s.round_trip_s) - s.keep]
        with self._cv:
            for key, value in zip(keys, results[n_sets:], strict=True):
                self._latest[key] = value
            if not self._pending:
                self._idle.set()

    def _connect(self):
        try:
            client = self._factory(self.cfg)
            client.ping()
        except Exception as exc:
            self.stats.failures += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            if self.stats.failures == 1 or self._connected:
                self._log("error", f"cannot reach redis at {self.cfg.host}:{self.cfg.port}: {exc} (retrying)")
            self._connected = False
            return None
        self.stats.connects += 1
        self._connected = True
        self._log("info", f"connected to redis {self.cfg.host}:{self.cfg.port}")
        return client

    def _requeue(self, writes: list[dict[str, bytes]]) -> None:
        """Unsent values go back in front of anything written meanwhile, as the newest value per key
        (the server was slow or away: history is not worth replaying, the latest value is)."""
        if not writes:
            return
        with self._cv:
            self._pending = [self._coalesce(writes), *self._pending]

    def _clear_reads(self) -> None:
        with self._cv:
            for key in self._latest:
                self._latest[key] = None

    @staticmethod
    def _is_timeout(exc: Exception) -> bool:
        try:
            import redis

            return isinstance(exc, redis.exceptions.TimeoutError)
        except ImportError:
            return isinstance(exc, TimeoutError)
