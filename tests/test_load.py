"""Proof under load (issue 21, docs/sim_time.md): the simulated control graph for ``LOAD_SECONDS``
(default 600) with a CPU hog at nice 0 on every core, on simulated time. The bridge must reach
POLICY without a trip (start-up under load included) and never leave it: 0 DAMPING transitions.
Lockstep (strict, as ``make sim`` runs, and with 40 ms of slack) must hold that, and so must
simulated time alone now that the simulator yields a contested core (``mujoco_sim`` ``nice``: auto,
+10 when the controller runs on its clock): the run slows down instead of the chain falling
behind. With the simulator at nice 0 simulated time alone is known not to hold (expected to fail,
kept to show it).

``scripts/load_test.py`` is the same run as a script (also with ``--clock wall``, the old
behaviour, for comparison); results in ``runs/reliability/``. Slow: runs only with --run-slow.
"""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("rclpy", reason="needs the ROS venv (source scripts/env.sh)")
pytest.importorskip("twist_msgs.msg", reason="twist_msgs not built (run scripts/setup.sh)")
pytest.importorskip("cyclonedds", reason="needs cyclonedds (scripts/setup.sh)")

import load_test
import stack_harness as H

LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "600"))
pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.timeout(LOAD_SECONDS + 600)]


SIM_TIME_SIMULATOR_NOT_YIELDING = pytest.param(
    False,
    0.0,
    0,
    id="sim_time_sim_nice0",
    # measured (docs/sim_time.md): a simulator at nice 0 keeps its real-time share of the CPU while
    # the chain starves, so a target can be 94-106 ms late in *simulated* time: a real lapse
    marks=pytest.mark.xfail(
        reason="simulated time alone, with a simulator that does not yield, lets the chain fall behind",
        strict=False,
    ),
)


@pytest.mark.parametrize(
    ("lockstep", "slack", "sim_nice"),
    [
        pytest.param(False, 0.0, None, id="sim_time"),
        SIM_TIME_SIMULATOR_NOT_YIELDING,
        pytest.param(True, 0.0, None, id="lockstep"),
        pytest.param(True, 0.04, None, id="lockstep_slack_40ms"),
    ],
)
def test_sim_time_under_load_never_trips(ros_env, tmp_path, lockstep, slack, sim_nice):
    res = load_test.run(
        LOAD_SECONDS,
        sim_time=True,
        lockstep=lockstep,
        hogs=os.cpu_count() or 2,
        ros_domain=int(ros_env["ROS_DOMAIN_ID"]),
        dds=H.process_dds_domain(),
        workdir=tmp_path,
        lockstep_slack=slack,
        sim_nice=sim_nice,
    )
    out = load_test.result_path("sim", lockstep, slack, sim_nice)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    assert not res["startup"]["damping_before_policy"], res["startup"]
    assert res["damping_transitions"] == 0, res["trips"]
    assert res["in_policy_share"] == 1.0
    assert res["sim_time_s"] > 0.1 * LOAD_SECONDS, "the simulation hardly advanced"
