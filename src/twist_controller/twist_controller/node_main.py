"""The one ``main`` every node of the stack uses: init, spin, clean shutdown on Ctrl-C/SIGTERM."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable

EXECUTOR_ENV = "G1_ROS_EXECUTOR"


def make_executor():
    """The executor every node of the stack spins on: rclpy's ``EventsExecutor`` (C++), unless
    ``G1_ROS_EXECUTOR=single`` asks for rclpy's Python ``SingleThreadedExecutor``.

    Why: on the project's 2-core reference machine the Python executor was most of each control
    node's CPU (it rebuilds its wait set from Python on every wake, including every node's seven
    parameter services). With the events executor the stack's control nodes used about 40 % less
    CPU at the same rates (cmg_node 23 -> 14 %, reference_mux 25 -> 11 %, policy_node 41 -> 25 % of a
    core; docs/sim_time.md), and on a saturated machine that CPU is latency. rclpy marks it
    experimental, hence the switch back; an rclpy without it falls back by itself."""
    import os

    from rclpy.executors import SingleThreadedExecutor

    choice = os.environ.get(EXECUTOR_ENV, "events").strip().lower()
    if choice not in ("events", "single"):
        print(f"{EXECUTOR_ENV}={choice!r} unknown (events, single): using events", file=sys.stderr)
        choice = "events"
    if choice == "events":
        try:
            from rclpy.experimental import EventsExecutor
        except ImportError:  # an rclpy older than Jazzy
            print("rclpy has no EventsExecutor: using SingleThreadedExecutor", file=sys.stderr, flush=True)
        else:
            return EventsExecutor()
    return SingleThreadedExecutor()


def init_ros(argv: list[str] | None = None) -> None:
    """``rclpy.init`` without rclpy's own signal handlers.

    rclpy's default SIGINT handler shuts the context down from the signal, asynchronously: a callback
    that happens to be publishing then fails with ``RCLError: publisher's context is invalid``, or the
    executor with ``failed to initialize wait set``, and the node dies with a traceback instead of
    stopping (measured: 6 of 12 SIGINTs to a node publishing at 5 kHz). The caller decides what a
    signal does; the context stays valid until it is shut down in order."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(args=argv if argv is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO)


def _quietly(what: str, fn: Callable[[], object]) -> None:
    """Run one shutdown step; a failure is one line on stderr, not a traceback (the node is going away
    and the other steps must still run)."""
    try:
        fn()
    except Exception as exc:  # any failure here is reported the same way
        print(f"shutdown: {what} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)


def run_node(factory: Callable[[], object], argv: list[str] | None = None, poll_s: float = 0.1) -> int:
    """Create the node with ``factory`` after ``rclpy.init`` and spin it until SIGINT or SIGTERM.
    ``factory`` may return a list of nodes (a node container): they share the one executor and
    are closed and destroyed in reverse order.

    The signal only sets a flag once the node runs: an exception raised from a signal handler lands
    wherever the main thread happens to be, and inside rclpy's pybind11 calls it comes out as
    ``RuntimeError: Unable to convert call argument`` (seen 3 times in 40 SIGTERMs to a busy node).
    The executor wakes at least every ``poll_s`` to look at the flag, so stopping takes at most that
    plus the callback in progress. While the node is still being built (model loading can take
    seconds) a signal aborts the build instead."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    init_ros(argv)
    stopping = threading.Event()
    running = threading.Event()

    def on_signal(signum, frame) -> None:
        stopping.set()
        if not running.is_set():
            raise KeyboardInterrupt  # no callback runs yet: abort the constructor

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    nodes: list = []
    try:
        try:
            built = factory()
            nodes = list(built) if isinstance(built, (list, tuple)) else [built]
        except Exception:
            if not stopping.is_set():
                raise
            return 0  # interrupted while starting (possibly inside a C extension): nothing to report
        executor = make_executor()
        for node in nodes:
            executor.add_node(node)
        running.set()
        while not stopping.is_set():
            executor.spin_once(timeout_sec=poll_s)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # a second Ctrl-C during the shutdown below must not turn into a traceback either
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for node in reversed(nodes):
            close = getattr(node, "close", None)
            if callable(close):
                _quietly("close", close)
            _quietly("destroy_node", node.destroy_node)
        _quietly("rclpy.shutdown", rclpy.try_shutdown)
    return 0


@contextlib.contextmanager
def spinning_in_background(node):
    """Spin ``node`` on a daemon thread while the caller runs its own loop (the simulator's physics,
    the bridge's LowCmd loop); on exit stop spinning, destroy the node and shut rclpy down.

    The executor stays rclpy's Python one here: the events executor (:func:`make_executor`) on a
    background thread next to a Python loop made the simulator and the bridge use more CPU, not
    less (simulator 81-83 % of a core against 59-62 %, bridge 71 % against 54-56 %; the stack alone,
    two runs each, 2026-12-05)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor()
    executor.add_node(node)

    def spin() -> None:
        try:
            executor.spin()
        except Exception as exc:  # e.g. the context shut down under a running callback
            if rclpy.ok():
                raise
            print(f"shutdown: spin thread stopped: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield node
    finally:
        # stop the executor first and wait for its callback to end, then destroy: a callback must
        # never run on a destroyed node or a shut-down context
        _quietly("executor.shutdown", lambda: executor.shutdown(timeout_sec=2.0))
        thread.join(timeout=2.0)
        _quietly("destroy_node", node.destroy_node)
        _quietly("rclpy.shutdown", rclpy.try_shutdown)
