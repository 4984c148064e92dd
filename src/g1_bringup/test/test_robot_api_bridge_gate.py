"""pd_bridge's real-robot gate on the robot's motion_switcher (twist_controller.motion_switcher), pure."""

from __future__ import annotations

import time

from twist_controller.motion_switcher import (
    RELEASE_HINT,
    MotionSwitcherGate,
    SwitcherStatus,
    parse_check_mode,
    verdict,
)


def test_verdict_allows_only_an_answered_empty_name():
    assert verdict(SwitcherStatus(0, "")) == (True, "")
    ok, why = verdict(SwitcherStatus(0, "ai"))
    assert not ok and "'ai' is active" in why and RELEASE_HINT in why and "L2+R2" in why
    ok, why = verdict(SwitcherStatus(3104, None))  # the client's timeout: no answer
    assert not ok and "no answer" in why and "not commanding" in why
    assert not verdict(SwitcherStatus(0, None))[0]
    assert not verdict(SwitcherStatus(7002, None))[0]


def test_parse_check_mode_takes_the_sdk_clients_dict_or_json_text():
    assert parse_check_mode(0, {"form": "0", "name": ""}) == SwitcherStatus(0, "")
    assert parse_check_mode(0, '{"form": "0", "name": "normal"}') == SwitcherStatus(0, "normal")
    assert parse_check_mode(3104, None) == SwitcherStatus(3104, None)
    for junk in ("{", {"name": 3}, {}, [1], None):
        assert not parse_check_mode(0, junk).released, junk


def test_gate_blocks_until_released_and_blocks_again_when_a_controller_comes_back():
    answers = [SwitcherStatus(0, "ai")]
    errors, infos = [], []
    gate = MotionSwitcherGate(lambda: answers[-1], errors.append, infos.append, period=0.01)
    assert not gate.allowed
    assert gate.check() == (False, errors[-1])
    gate.check()
    assert len(errors) == 1  # one log line per change of verdict, not per check
    gate.watch()  # keeps asking until released
    time.sleep(0.05)
    assert not gate.allowed
    answers.append(SwitcherStatus(0, ""))
    deadline = time.monotonic() + 2.0
    while not gate.allowed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gate.allowed and infos
    answers.append(SwitcherStatus(0, "normal"))  # someone selected a controller again
    assert not gate.check()[0] and not gate.allowed
    gate.close()


def test_a_query_that_raises_reads_as_not_released():
    def boom():
        raise RuntimeError("DDS down")

    errors = []
    gate = MotionSwitcherGate(boom, errors.append, lambda s: None)
    assert gate.check()[0] is False and not gate.allowed
    assert any("DDS down" in e for e in errors)
