"""scripts/eval_stack.py end to end: one short episode through the DDS simulator and the full ROS graph
(fresh stack, band-held stand, POLICY, band release, commands) with the shipped CMG and student; the
report files must exist and carry finite numbers. This checks the evaluator, not the policy's quality.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="needs the ROS venv (source scripts/env.sh)")
pytest.importorskip("twist_msgs.msg", reason="twist_msgs not built (run scripts/setup.sh)")

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "eval_stack.py"


def test_eval_stack_one_episode_writes_finite_report(ros_env, tmp_path):
    from twist_controller.policy_node import shipped_policy

    policy = shipped_policy()
    assert policy, "no student shipped in share/twist_controller/policies (run scripts/setup.sh)"
    out = tmp_path / "eval"
    dds = 100 + int(ros_env["ROS_DOMAIN_ID"]) % 100
    cmd = [sys.executable, str(SCRIPT), "--episodes", "1", "--duration", "6", "--settle", "0.2"]
    cmd += ["--hold", "2", "--dds-domain", str(dds), "--out", str(out)]
    proc = subprocess.run(cmd, env=ros_env, capture_output=True, text=True, timeout=150, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("results.json", "report.md", "eval.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    res = json.loads((out / "results.json").read_text())
    assert res["meta"]["controllers"] == ["student"] and res["meta"]["mode"].startswith("DDS")
    s = res["summaries"]["student"]
    assert s["evaluated"] == 1 and s["errors"] == 0
    assert s["falls"] in (0, 1)
    ep = res["episodes"]["student"][0]
    assert ep["error"] is None
    assert ep["mode_before_release"] == "POLICY", "the band was released before the policy held the robot"
    assert ep["pelvis_before_release"] > 0.7, "episode did not start from a standing, band-held robot"
    assert ep["commands"][0]["vx"] == 0.0 and ep["commands"][-1]["t1"] == pytest.approx(6.0)
    assert ep["samples"] > 10
    assert ep["tau_effort_published"], "the bridge's /joint_states carried no effort (LowState tau_est)"
    for key in ("survived_s", "joint_err_rad", "tau_peak_nm"):
        assert isinstance(ep[key], float) and math.isfinite(ep[key]), (key, ep[key])
    assert 0 < ep["tau_peak_nm"] < 500 and 0 <= ep["joint_err_rad"] < 3
    report = (out / "report.md").read_text()
    assert "| metric | student |" in report and "| falls |" in report
    assert "fell=" in proc.stdout, "no per-episode line printed"


# what differs between two runs of the same episode by construction (wall-clock quantities)
WALL_KEYS = {"startup_s", "sim_rtf", "lockstep_timeouts", "stack_exit_code", "log_tail"}


@pytest.mark.slow
def test_eval_stack_lockstep_same_seed_same_result_twice(ros_env, tmp_path):
    """Lockstep (the default): the same seed twice gives identical episode results, every metric
    bit for bit (everything is placed in simulated time, docs/sim_time.md); the header says so."""
    runs = []
    for k in range(2):
        out = tmp_path / f"eval{k}"
        dds = 100 + (int(ros_env["ROS_DOMAIN_ID"]) + k) % 100
        cmd = [sys.executable, str(SCRIPT), "--episodes", "1", "--duration", "4", "--settle", "0.2"]
        cmd += ["--hold", "1", "--seed", "3", "--dds-domain", str(dds), "--out", str(out)]
        proc = subprocess.run(cmd, env=ros_env, capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        runs.append(json.loads((out / "results.json").read_text()))
    assert "lockstep" in runs[0]["meta"]["mode"]
    assert "lockstep" in (tmp_path / "eval0" / "report.md").read_text().splitlines()[0]
    a, b = (r["episodes"]["student"][0] for r in runs)
    assert a["error"] is None and a["samples"] > 10
    ja = json.dumps({k: a[k] for k in a if k not in WALL_KEYS}, sort_keys=True)  # NaN == NaN here
    jb = json.dumps({k: b[k] for k in b if k not in WALL_KEYS}, sort_keys=True)
    assert ja == jb, f"same seed, different results:\n{ja}\n{jb}"
