"""The pure cores of our Unitree RPC services: motion switcher and G1 loco (no DDS, no ROS)."""

from __future__ import annotations

import json

import pytest

from g1_bringup.robot_api import loco_core as L
from g1_bringup.robot_api import rpc
from g1_bringup.robot_api import switcher_core as S
from twist_controller.safety import Mode, Request


# ============================================================================ constants vs the SDK
def test_ids_names_and_codes_match_unitree_sdk2py():
    sdk_rpc = pytest.importorskip("unitree_sdk2py.rpc.internal")
    from unitree_sdk2py.comm.motion_switcher import motion_switcher_api as ms
    from unitree_sdk2py.g1.loco import g1_loco_api as lo

    assert (
        rpc.RPC_ERR_SERVER_API_NOT_IMPL,
        rpc.RPC_ERR_SERVER_API_PARAMETER,
        rpc.RPC_ERR_SERVER_INTERNAL,
    ) == (
        sdk_rpc.RPC_ERR_SERVER_API_NOT_IMPL,
        sdk_rpc.RPC_ERR_SERVER_API_PARAMETER,
        sdk_rpc.RPC_ERR_SERVER_INTERNAL,
    )
    assert rpc.RPC_ERR_CLIENT_API_TIMEOUT == sdk_rpc.RPC_ERR_CLIENT_API_TIMEOUT
    assert (S.SERVICE_NAME, S.API_VERSION) == (
        ms.MOTION_SWITCHER_SERVICE_NAME,
        ms.MOTION_SWITCHER_API_VERSION,
    )
    assert (S.CHECK_MODE, S.SELECT_MODE, S.RELEASE_MODE, S.SET_SILENT, S.GET_SILENT) == (
        ms.MOTION_SWITCHER_API_ID_CHECK_MODE,
        ms.MOTION_SWITCHER_API_ID_SELECT_MODE,
        ms.MOTION_SWITCHER_API_ID_RELEASE_MODE,
        ms.MOTION_SWITCHER_API_ID_SET_SILENT,
        ms.MOTION_SWITCHER_API_ID_GET_SILENT,
    )
    assert (L.SERVICE_NAME, L.API_VERSION) == (lo.LOCO_SERVICE_NAME, lo.LOCO_API_VERSION)
    sdk_ids = {v for k, v in vars(lo).items() if k.startswith("ROBOT_API_ID_LOCO_")}
    assert sdk_ids <= set(L.API_IDS), "a LocoClient API id this server does not register"


# ============================================================================ parameters
@pytest.mark.parametrize(
    "text",
    ["{", "[1, 2]", '"x"', "null", '{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', "[" * 5000,
     "x" * (rpc.MAX_PARAMETER_CHARS + 1)],
)  # fmt: skip
def test_parse_object_refuses_what_is_not_a_plain_json_object(text):
    with pytest.raises(rpc.BadParameter):
        rpc.parse_object(text)


def test_parse_object_takes_empty_as_empty_object_and_numbers_are_checked():
    assert rpc.parse_object("") == {} and rpc.parse_object("  ") == {} and rpc.parse_object("{}") == {}
    assert rpc.number({"x": 2}, "x") == 2.0
    for bad in ({"x": True}, {"x": "1"}, {"x": None}, {"x": [1]}, {"x": 10**400}, {"x": 1e308 * 10}):
        with pytest.raises(rpc.BadParameter):
            rpc.number(bad, "x")
    assert rpc.integer({"data": 500.0}, "data") == 500
    with pytest.raises(rpc.BadParameter):
        rpc.integer({"data": 500.5}, "data")
    with pytest.raises(rpc.BadParameter):
        rpc.number({}, "x")
    assert rpc.number({}, "x", 1.0) == 1.0


# ============================================================================ motion switcher
def test_switcher_reports_the_active_controller_until_released_like_the_robot():
    core = S.MotionSwitcherCore()
    r = core.handle(S.CHECK_MODE, "{}")
    assert r.code == 0 and json.loads(r.data) == {"form": "0", "name": "ai"}
    # Unitree's low-level example: while result['name']: ReleaseMode(); CheckMode()
    assert core.handle(S.RELEASE_MODE, "{}").code == 0
    assert json.loads(core.handle(S.CHECK_MODE, "").data)["name"] == ""  # C++ clients send ""
    assert core.handle(S.RELEASE_MODE, "{}").code == 0  # releasing twice is fine
    assert core.handle(S.SELECT_MODE, json.dumps({"name": "ai_sport"})).code == 0  # alias
    assert json.loads(core.handle(S.CHECK_MODE, "{}").data)["name"] == "ai"
    assert core.handle(S.SELECT_MODE, json.dumps({"name": "normal"})).code == 0
    assert core.name == "normal" and core.active


def test_switcher_refuses_bad_names_and_malformed_parameters_without_changing_state():
    core = S.MotionSwitcherCore(S.SwitcherConfig(initial_mode=""))
    assert not core.active
    assert core.handle(S.SELECT_MODE, json.dumps({"name": "turbo"})).code == rpc.SWITCHER_ERR_NAME_INVALID
    for bad in ("{", '{"name": 3}', '{"name": ""}', "{}", '{"name": NaN}', "[]"):
        assert core.handle(S.SELECT_MODE, bad).code == rpc.RPC_ERR_SERVER_API_PARAMETER, bad
    assert core.handle(S.CHECK_MODE, "not json").code == rpc.RPC_ERR_SERVER_API_PARAMETER
    assert core.handle(9999, "{}").code == rpc.RPC_ERR_SERVER_API_NOT_IMPL
    assert core.name == ""
    assert core.handle(S.SET_SILENT, '{"silent": "yes"}').code == rpc.RPC_ERR_SERVER_API_PARAMETER
    assert core.handle(S.SET_SILENT, '{"silent": true}').code == 0
    assert json.loads(core.handle(S.GET_SILENT, "").data) == {"silent": True}
    with pytest.raises(ValueError):
        S.SwitcherConfig(initial_mode="turbo")


# ============================================================================ loco
def _vel(vx, vy, wz, duration=None):
    p = {"velocity": [vx, vy, wz]}
    if duration is not None:
        p["duration"] = duration
    return json.dumps(p)


def _fsm(i):
    return json.dumps({"data": i})


def _core(mode=Mode.POLICY, t=0.0, cfg=None, **kw):
    c = L.LocoCore(cfg or L.LocoConfig(**kw))
    if mode is not None:
        c.set_bridge_mode(int(mode), t)
    return c


def _getter(core, api, now):
    r = core.handle(api, "", now)
    assert r.code == 0, r
    return json.loads(r.data)["data"]


def test_move_becomes_cmd_vel_for_its_duration_then_zeros_then_silence():
    c = _core()
    r = c.handle(L.SET_VELOCITY, _vel(0.4, 0.0, 0.3), 0.0)  # LocoClient.Move(0.4, 0, 0.3): 1 s
    assert r.code == 0 and r.requests == ()
    assert c.velocity_output(0.5) == (0.4, 0.0, 0.3)
    assert _getter(c, L.GET_FSM_MODE, 0.5) == 1
    c.set_bridge_mode(int(Mode.POLICY), 0.9)
    assert c.velocity_output(1.01) == (0.0, 0.0, 0.0)  # expired: zeros, then nothing
    assert [c.velocity_output(1.02 + 0.05 * i) for i in range(3)] == [(0.0, 0.0, 0.0)] * 2 + [None]
    assert _getter(c, L.GET_FSM_MODE, 1.2) == 0


def test_continuous_move_lasts_until_stopmove_and_stopmove_always_answers():
    c = _core()
    assert c.handle(L.SET_VELOCITY, _vel(0.5, 0.1, 0.0, L.CONTINUOUS_MOVE_S), 0.0).code == 0
    for t in (0.2, 0.4, 0.6, 0.8):
        c.set_bridge_mode(int(Mode.POLICY), t)
        assert c.velocity_output(t) == (0.5, 0.1, 0.0)
    assert c.handle(L.SET_VELOCITY, _vel(0, 0, 0), 0.9).code == 0  # StopMove
    assert c.velocity_output(0.95) == (0.0, 0.0, 0.0)
    # StopMove with no bridge state at all (nothing heard) still answers 0: stopping is always safe
    assert _core(mode=None).handle(L.SET_VELOCITY, _vel(0, 0, 0), 0.0).code == 0


def test_speeds_are_clamped_and_absurd_or_non_finite_ones_refused_and_stop_the_robot():
    c = _core()
    assert c.handle(L.SET_VELOCITY, _vel(3.0, -2.0, 4.0, 10), 0.0).code == 0
    assert c.velocity_output(0.1) == (1.0, -0.5, 1.0)
    assert c.handle(L.SET_VELOCITY, _vel(-3.0, 0, 0, 10), 0.0).code == 0
    assert c.velocity_output(0.1) == (-0.6, 0.0, 0.0)
    bad = [_vel(1e6, 0, 0), _vel(0, 0, -50), '{"velocity": [NaN, 0, 0]}', '{"velocity": [1e999, 0, 0]}',
           '{"velocity": [0.3, 0]}', '{"velocity": "fast"}', '{"velocity": [0.3, 0, true]}', "{",
           _vel(0.3, 0, 0, -1), _vel(0.3, 0, 0, 0), '{"velocity": [0.3, 0, 0], "duration": NaN}',
           '{"velocity": [0.3, 0, 0], "duration": "1"}', "", "[]"]  # fmt: skip
    for p in bad:
        c.handle(L.SET_VELOCITY, _vel(0.3, 0, 0, 10), 0.2)
        assert c.velocity_output(0.25) == (0.3, 0.0, 0.0)
        r = c.handle(L.SET_VELOCITY, p, 0.3)
        assert r.code == rpc.RPC_ERR_SERVER_API_PARAMETER, p
        assert c.velocity_output(0.35) == (0.0, 0.0, 0.0), p  # refused -> stopped, not kept walking


def test_duration_is_capped():
    c = _core(max_duration=5.0)
    assert c.handle(L.SET_VELOCITY, _vel(0.3, 0, 0, 1e9), 0.0).code == 0
    c.set_bridge_mode(int(Mode.POLICY), 4.8)
    assert c.velocity_output(4.9) == (0.3, 0.0, 0.0)
    c.set_bridge_mode(int(Mode.POLICY), 5.0)
    assert c.velocity_output(5.01) == (0.0, 0.0, 0.0)


def test_move_needs_the_walking_controller_and_a_fresh_bridge_state():
    for mode in (Mode.ZERO_TORQUE, Mode.DAMPING, Mode.STAND_UP, Mode.ESTOP):
        c = _core(mode)
        r = c.handle(L.SET_VELOCITY, _vel(0.3, 0, 0), 0.0)
        assert r.code == rpc.LOCO_ERR_LOCOSTATE_NOT_AVAILABLE, mode
        assert c.velocity_output(0.1) is None
    c = _core(Mode.POLICY, t=0.0, state_timeout=1.0)
    assert c.handle(L.SET_VELOCITY, _vel(0.3, 0, 0), 2.0).code == rpc.LOCO_ERR_LOCOSTATE_NOT_AVAILABLE
    assert c.handle(L.GET_FSM_ID, "", 2.0).code == rpc.LOCO_ERR_LOCOSTATE_NOT_AVAILABLE
    # a walk in progress ends when /controller_state goes stale (bridge dead)
    c = _core(Mode.POLICY, t=0.0, state_timeout=1.0)
    c.handle(L.SET_VELOCITY, _vel(0.3, 0, 0, 100), 0.5)
    assert c.velocity_output(0.9) == (0.3, 0.0, 0.0)
    assert c.velocity_output(1.5) == (0.0, 0.0, 0.0)


def test_bridge_leaving_policy_cancels_the_walk_for_good():
    c = _core()
    c.handle(L.SET_VELOCITY, _vel(0.3, 0, 0, 100), 0.0)
    assert "cancelled" in c.set_bridge_mode(int(Mode.DAMPING), 0.1)  # a fault
    assert c.velocity_output(0.15) == (0.0, 0.0, 0.0)
    c.set_bridge_mode(int(Mode.POLICY), 0.2)  # back in POLICY later: the old walk must not resume
    for i in range(5):
        assert c.velocity_output(0.25 + 0.05 * i) in ((0.0, 0.0, 0.0), None)


def test_mode_changes_publish_zeros_only_when_they_end_a_walk():
    c = _core()
    assert c.handle(L.SET_FSM_ID, _fsm(1), 0.0).code == 0  # Damp while standing still
    assert c.velocity_output(0.05) is None  # nothing on /cmd_vel: another teleop source keeps it
    c = _core()
    c.handle(L.SET_VELOCITY, _vel(0.3, 0, 0, 100), 0.0)
    assert c.handle(L.SET_FSM_ID, _fsm(1), 0.1).code == 0  # Damp while walking
    assert c.velocity_output(0.15) == (0.0, 0.0, 0.0)
    assert _core().handle(L.SET_VELOCITY, _vel(0, 0, 0), 0.0).code == 0
    c = _core()
    c.handle(L.SET_VELOCITY, _vel(0, 0, 0), 0.0)  # StopMove always sends its zeros
    assert c.velocity_output(0.05) == (0.0, 0.0, 0.0)


def test_fsm_ids_map_onto_bridge_requests_from_each_mode():
    cases = {
        (Mode.POLICY, 0): (Request.ZERO_TORQUE,),
        (Mode.POLICY, 1): (Request.DAMP,),
        (Mode.ZERO_TORQUE, 4): (Request.ENABLE, Request.STAND),
        (Mode.DAMPING, 4): (Request.STAND,),
        (Mode.DAMPING, 706): (Request.STAND,),
        (Mode.POLICY, 4): (Request.STAND,),
        (Mode.STAND_UP, 4): (),
        (Mode.POLICY, 500): (),
        (Mode.STAND_UP, 500): (),  # pending: POLICY is asked for once the stand-up finished
    }
    for (mode, fsm), reqs in cases.items():
        r = _core(mode).handle(L.SET_FSM_ID, _fsm(fsm), 0.0)
        assert (r.code, r.requests) == (0, reqs), (mode, fsm, r)


def test_refused_fsm_ids_answer_7302_and_change_nothing():
    for mode, fsm in [(Mode.DAMPING, 500), (Mode.ZERO_TORQUE, 200), (Mode.POLICY, 2), (Mode.POLICY, 3),
                      (Mode.DAMPING, 702), (Mode.POLICY, 706), (Mode.POLICY, 12345), (Mode.POLICY, -1),
                      (Mode.ESTOP, 4), (Mode.ESTOP, 500), (Mode.ESTOP, 0)]:  # fmt: skip
        c = _core(mode)
        r = c.handle(L.SET_FSM_ID, _fsm(fsm), 0.0)
        assert (r.code, r.requests) == (rpc.LOCO_ERR_INVALID_FSM_ID, ()), (mode, fsm, r)
        assert r.log
    r = _core(Mode.ESTOP).handle(L.SET_FSM_ID, _fsm(1), 0.0)
    assert (r.code, r.requests) == (0, ())  # Damp in ESTOP: already damped
    for p in ("{", '{"data": "4"}', '{"data": 4.5}', '{"data": NaN}', "{}", '{"data": true}'):
        assert _core().handle(L.SET_FSM_ID, p, 0.0).code == rpc.RPC_ERR_SERVER_API_PARAMETER, p
    assert _core(mode=None).handle(L.SET_FSM_ID, _fsm(1), 0.0).code == rpc.LOCO_ERR_LOCOSTATE_NOT_AVAILABLE


def test_start_during_the_stand_up_waits_for_it_then_reports_the_start_id():
    c = _core(Mode.STAND_UP, start_timeout=5.0)
    assert c.start_pending(0.0) == (False, "")
    assert c.handle(L.SET_FSM_ID, _fsm(200), 0.0).code == 0  # unitree-sdk2py-dimos' Start()
    assert c.start_pending(0.1) == (True, "")
    assert c.handle(L.SET_VELOCITY, _vel(0.4, 0, 0, 100), 0.2).code == 0  # Move right after Start
    c.set_bridge_mode(int(Mode.STAND_UP), 0.3)
    assert c.velocity_output(0.3) is None  # not before POLICY
    assert _getter(c, L.GET_FSM_ID, 0.3) == 4
    c.set_bridge_mode(int(Mode.POLICY), 1.0)
    assert c.start_pending(1.0) == (False, "")
    assert c.velocity_output(1.05) == (0.4, 0.0, 0.0)
    assert _getter(c, L.GET_FSM_ID, 1.05) == 200
    # a Start that never gets POLICY gives up and stops
    c = _core(Mode.STAND_UP, start_timeout=2.0)
    c.handle(L.SET_FSM_ID, _fsm(500), 0.0)
    c.set_bridge_mode(int(Mode.STAND_UP), 2.0)
    send, note = c.start_pending(2.5)
    assert not send and "gave up" in note
    assert c.start_pending(2.6) == (False, "")


def test_getters_report_the_bridge_mode_in_the_robots_codes():
    expect = {Mode.ZERO_TORQUE: 0, Mode.DAMPING: 1, Mode.ESTOP: 1, Mode.STAND_UP: 4, Mode.POLICY: 500}
    for mode, fsm in expect.items():
        c = _core(mode)
        assert _getter(c, L.GET_FSM_ID, 0.1) == fsm
        assert _getter(c, L.GET_FSM_MODE, 0.1) == 0
        assert _getter(c, L.GET_BALANCE_MODE, 0.1) == 0


def test_calls_we_cannot_honour_answer_not_implemented_and_unknown_ids_too():
    c = _core()
    for api in L.UNSUPPORTED:
        r = c.handle(api, _fsm(1), 0.0)
        assert r.code == rpc.RPC_ERR_SERVER_API_NOT_IMPL and r.log, api
    assert c.handle(7999, "{}", 0.0).code == rpc.RPC_ERR_SERVER_API_NOT_IMPL
    assert c.handle(L.SET_BALANCE_MODE, _fsm(0), 0.0).code == 0
    assert c.handle(L.SET_BALANCE_MODE, _fsm(1), 0.0).code == rpc.RPC_ERR_SERVER_API_PARAMETER


def test_config_refuses_inconsistent_limits():
    for bad in ({"vx_max": 0}, {"vx_min": 0.5}, {"wz_max": float("nan")}, {"reject_above": 0.5},
                {"zero_repeats": 0}, {"state_timeout": -1}):  # fmt: skip
        with pytest.raises(ValueError):
            L.LocoConfig(**bad)


# ============================================================================ fuzz
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_NUM = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**30), 10**30), st.booleans(), st.none()
)
_VALUE = st.recursive(
    st.one_of(_NUM, st.text(max_size=8)),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=8,
)
_PARAM = st.one_of(
    st.text(max_size=40),
    st.fixed_dictionaries(
        {},
        optional={
            "velocity": st.lists(_NUM, max_size=4) | _VALUE,
            "duration": _NUM,
            "data": _NUM | _VALUE,
            "name": st.sampled_from(["ai", "normal", "", "x"]) | _VALUE,
            "silent": _VALUE,
        },
    ).map(json.dumps),
)
_API = st.one_of(st.sampled_from([*L.API_IDS, *S.API_IDS]), st.integers(-5, 10**6))
_FUZZ = settings(max_examples=300, deadline=None, database=None, derandomize=True,
                 suppress_health_check=list(HealthCheck))  # fmt: skip
_CODES = {0, rpc.RPC_ERR_SERVER_API_NOT_IMPL, rpc.RPC_ERR_SERVER_API_PARAMETER, rpc.SWITCHER_ERR_NAME_INVALID}
_CODES |= {rpc.LOCO_ERR_LOCOSTATE_NOT_AVAILABLE, rpc.LOCO_ERR_INVALID_FSM_ID}


@_FUZZ
@given(st.lists(st.tuples(_API, _PARAM), min_size=1, max_size=6), st.sampled_from(list(Mode)))
def test_fuzzed_requests_never_raise_and_never_command_beyond_the_limits(calls, mode):
    cfg = L.LocoConfig()
    loco, switcher = _core(mode, cfg=cfg), S.MotionSwitcherCore()
    t = 0.0
    for api, param in calls:
        t += 0.05
        loco.set_bridge_mode(int(mode), t)
        r = loco.handle(api, param, t)
        assert r.code in _CODES and isinstance(r.data, str)
        if r.code == 0 and r.data:
            json.loads(r.data)
        assert switcher.handle(api, param).code in _CODES
        out = loco.velocity_output(t)
        if out is not None:
            vx, vy, wz = out
            assert cfg.vx_min <= vx <= cfg.vx_max and abs(vy) <= cfg.vy_max and abs(wz) <= cfg.wz_max
            assert mode == Mode.POLICY or out == (0.0, 0.0, 0.0)
