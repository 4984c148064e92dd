"""The one ``main`` every node of the stack uses: init, spin, clean shutdown on Ctrl-C/SIGTERM."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_node(factory: Callable[[], object], argv: list[str] | None = None) -> int:
    """Create the node with ``factory`` after ``rclpy.init`` and spin it until interrupted."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=argv if argv is not None else sys.argv)
    # SIGTERM (the runner's stop signal) ends spinning like Ctrl-C does, so nodes clean up.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    node = None
    try:
        node = factory()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if callable(close):
                close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


@contextlib.contextmanager
def spinning_in_background(node):
    """Spin ``node`` on a daemon thread while the caller runs its own loop (the simulator's physics,
    the bridge's LowCmd loop); on exit stop spinning, destroy the node and shut rclpy down."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()
    try:
        yield node
    finally:
        executor.shutdown(timeout_sec=0.5)
        spin.join(timeout=1.0)
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
