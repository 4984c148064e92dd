"""Stamp conversions: exact in integer ns, consistent with rclpy's own Time."""

from __future__ import annotations

import pytest

pytest.importorskip("builtin_interfaces.msg", reason="needs the ROS venv (source scripts/env.sh)")

from rclpy.time import Time as RclpyTime

from twist_controller.stamps import stamp_ns, stamp_s, time_msg, time_msg_ns


@pytest.mark.parametrize("ns", [0, 1, 999_999_999, 1_000_000_000, 257_144_000_000, 4_000_000_000_123])
def test_ns_round_trip_matches_rclpy(ns):
    msg = time_msg_ns(ns)
    assert 0 <= msg.nanosec < 1_000_000_000
    assert stamp_ns(msg) == ns
    assert RclpyTime.from_msg(msg).nanoseconds == ns  # rclpy reads our message the same way
    assert stamp_ns(RclpyTime(nanoseconds=ns).to_msg()) == ns


def test_seconds():
    msg = time_msg(257.144)  # simulated time after 2^17 steps of 2 ms: float error below 1 ns
    assert (msg.sec, msg.nanosec) == (257, 144_000_000)
    assert stamp_s(msg) == pytest.approx(257.144, abs=1e-9)
    assert stamp_ns(time_msg(0.0015)) == 1_500_000
