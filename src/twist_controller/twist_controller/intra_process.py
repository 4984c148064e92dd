"""In-process hand-over between nodes composed into one process (rclpy has no intra-process comms).

When ``g1_bringup``'s node container runs cmg_node, reference_mux and policy_node in one process, the
topics that link them (``/reference_motion/cmg``, ``/reference_motion``) need not go through DDS: a
publisher in the process calls its in-process subscribers' callbacks directly, with the message
object, in the publishing callback. That removes, per control tick, two DDS round trips, two
message conversions and two executor wakes: on the 2-core reference machine the chain was CPU-bound,
and those were most of its latency (docs/sim_time.md).

Nodes create the publishers and subscriptions of such topics through :func:`create_publisher` and
:func:`create_subscription`. Outside a container (no :func:`composing` active) they are exactly
``node.create_publisher`` / ``node.create_subscription``. Inside one, for a topic the container
hands over (its resolved name, after remapping):

* the subscription is in-process only: no DDS reader, so a message is never delivered twice. The
  container is then the topic's only publisher; an outside publisher of it would not be heard;
* the publisher calls every in-process subscriber first (the control chain runs at once) and then
  publishes on DDS for everyone else (Foxglove, recorders, the benchmark), skipped while no DDS
  subscriber is matched.

A subscriber's exception propagates into the publishing callback, as it would have ended a node of
its own: the container process dies and the stack runner stops the stack (all three are required).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

_active: IntraProcessBus | None = None  # the bus of the container building its nodes


class IntraProcessBus:
    """The topics one container hands over, and their in-process subscribers' callbacks."""

    def __init__(self, topics: Iterable[str]) -> None:
        self.topics = frozenset(topics)
        for t in self.topics:
            if not t.startswith("/"):
                raise ValueError(f"in-process topic {t!r} must be absolute (start with '/')")
        self._callbacks: dict[str, list[Callable[[object], None]]] = {t: [] for t in self.topics}
        self.delivered = dict.fromkeys(self.topics, 0)  # messages handed over, per topic

    def carries(self, topic: str) -> bool:
        return topic in self.topics

    def subscribe(self, topic: str, callback: Callable[[object], None]) -> None:
        self._callbacks[topic].append(callback)

    def subscribers(self, topic: str) -> int:
        return len(self._callbacks.get(topic, ()))

    def deliver(self, topic: str, msg: object) -> None:
        self.delivered[topic] += 1
        for callback in self._callbacks[topic]:
            callback(msg)


class HandOverPublisher:
    """A publisher of a handed-over topic: in-process subscribers first, then DDS if anyone listens.

    Exposes what the nodes use of rclpy's ``Publisher`` (``publish``, ``topic_name``,
    ``get_subscription_count``, ``destroy``)."""

    def __init__(self, publisher, bus: IntraProcessBus) -> None:
        self._pub = publisher
        self._bus = bus
        self.topic_name: str = publisher.topic_name

    def publish(self, msg) -> None:
        self._bus.deliver(self.topic_name, msg)
        if self._pub.get_subscription_count() > 0:
            self._pub.publish(msg)

    def get_subscription_count(self) -> int:
        return self._pub.get_subscription_count() + self._bus.subscribers(self.topic_name)

    def destroy(self) -> None:
        self._pub.destroy()


@contextlib.contextmanager
def composing(bus: IntraProcessBus) -> Iterator[IntraProcessBus]:
    """Nodes built inside this block hand ``bus.topics`` over in-process."""
    global _active
    if _active is not None:
        raise RuntimeError("nodes are already being composed with another bus")
    _active = bus
    try:
        yield bus
    finally:
        _active = None


def create_publisher(node, msg_type, topic: str, qos):
    """``node.create_publisher``; a :class:`HandOverPublisher` for a topic the container hands over."""
    pub = node.create_publisher(msg_type, topic, qos)
    bus = _active
    if bus is not None and bus.carries(pub.topic_name):
        return HandOverPublisher(pub, bus)
    return pub


def create_subscription(node, msg_type, topic: str, callback: Callable[[object], None], qos):
    """``node.create_subscription``; for a topic the container hands over an in-process subscription
    (returns None: there is no DDS reader to destroy)."""
    bus = _active
    if bus is not None:
        name = node.resolve_topic_name(topic)
        if bus.carries(name):
            bus.subscribe(name, callback)
            return None
    return node.create_subscription(msg_type, topic, callback, qos)
