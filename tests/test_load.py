"""Proof under load (issue 21, docs/sim_time.md): the simulated control graph for ``LOAD_SECONDS``
(default 600) with a CPU hog at nice 0 on every core, on simulated time. The bridge must reach
POLICY without a trip (start-up under load included) and never leave it: 0 DAMPING transitions.

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


@pytest.mark.parametrize("lockstep", [False, True], ids=["sim_time", "sim_time_lockstep"])
def test_sim_time_under_load_never_trips(ros_env, tmp_path, lockstep):
    res = load_test.run(
        LOAD_SECONDS,
        sim_time=True,
        lockstep=lockstep,
        hogs=os.cpu_count() or 2,
        ros_domain=int(ros_env["ROS_DOMAIN_ID"]),
        dds=H.process_dds_domain(),
        workdir=tmp_path,
    )
    out = load_test.REPO / "runs" / "reliability" / f"load_sim{'_lockstep' if lockstep else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    assert not res["startup"]["damping_before_policy"], res["startup"]
    assert res["damping_transitions"] == 0, res["trips"]
    assert res["in_policy_share"] == 1.0
    assert res["sim_time_s"] > 0.1 * LOAD_SECONDS, "the simulation hardly advanced"
