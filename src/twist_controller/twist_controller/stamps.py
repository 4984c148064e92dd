"""ROS time stamps (``builtin_interfaces/Time``) to and from integer nanoseconds and float seconds.

One place for the conversions every node does on header stamps and ``/clock``: integer
nanoseconds are exact (simulated time is whole microseconds, so stamps compare equal when they
should), float seconds are what the cores compute with."""

from __future__ import annotations

NS_PER_S = 1_000_000_000


def stamp_ns(stamp) -> int:
    """A ``builtin_interfaces/Time`` (or anything with ``sec`` and ``nanosec``) as integer ns."""
    return stamp.sec * NS_PER_S + stamp.nanosec


def stamp_s(stamp) -> float:
    """A ``builtin_interfaces/Time`` as float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def time_msg_ns(ns: int):
    """``builtin_interfaces/Time`` for ``ns`` nanoseconds (>= 0)."""
    from builtin_interfaces.msg import Time

    return Time(sec=ns // NS_PER_S, nanosec=ns % NS_PER_S)


def time_msg(t: float):
    """``builtin_interfaces/Time`` for ``t`` seconds, rounded to the nanosecond."""
    return time_msg_ns(round(t * 1e9))
