"""The simulator yields a contested core to the controller it hosts when that controller runs on
the simulator's clock (``mujoco_sim`` parameters ``nice``, default -1 = auto, and
``controller_on_sim_time``, set by the sim graph from ``use_sim_time``; docs/sim_time.md): every
thread of the real simulator process runs at the raised niceness, including the threads rclpy and
DDS started before the parameters were read; on wall time (auto) or with ``nice:=0`` it stays at
its parent's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SIM = REPO / "install" / "lib" / "g1_bringup" / "mujoco_sim"


def _thread_nice(pid: int) -> dict[int, int]:
    """Niceness of every thread of ``pid`` (field 19 of /proc/PID/task/TID/stat)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        out[int(tid)] = int(stat.rsplit(")", 1)[1].split()[16])
    return out


CHILD = r"""
import os, threading, time
from g1_bringup.simulator.mujoco_sim import lower_priority
before = threading.Event(); stop = threading.Event()
threading.Thread(target=lambda: (before.set(), stop.wait()), daemon=True).start()  # exists before
before.wait()
base = os.getpriority(os.PRIO_PROCESS, 0)
got = lower_priority(3)
later = []
t = threading.Thread(target=lambda: later.append(os.getpriority(os.PRIO_PROCESS, 0)))
t.start(); t.join()
nices = set()
tids = [int(x) for x in os.listdir("/proc/self/task")]
for tid in tids:
    try:
        nices.add(os.getpriority(os.PRIO_PROCESS, tid))
    except ProcessLookupError:  # a library's thread that ended meanwhile
        pass
nices = sorted(nices)
print(base, got, later[0], len(tids), *nices)
stop.set()
"""


def test_lower_priority_reaches_threads_started_before_and_after():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    base, got, later, n_threads, *nices = (int(x) for x in out.stdout.split())
    want = min(19, base + 3)
    assert got == want
    assert later == want, "a thread started afterwards did not inherit the niceness"
    assert n_threads >= 2 and nices == [want], f"not every thread was reniced: {nices}"


def test_auto_nice_only_when_the_controller_runs_on_simulated_time():
    from g1_bringup.simulator.mujoco_sim import PARAMS, SIM_TIME_NICE, nice_increment

    assert PARAMS["nice"] == -1 and PARAMS["controller_on_sim_time"] is False
    assert nice_increment(-1, True) == SIM_TIME_NICE > 0
    assert nice_increment(-1, False) == 0  # wall time: a starved simulator would trip the bridge
    assert nice_increment(3, False) == 3 and nice_increment(0, True) == 0  # set explicitly: as set


def test_sim_graph_tells_the_simulator_its_clock():
    from g1_bringup.graph import Arg, sim_graph

    assert sim_graph().node("mujoco_sim").parameters["controller_on_sim_time"] == Arg("use_sim_time")


SIM_TIME = ["-p", "controller_on_sim_time:=true"]


@pytest.mark.ros
@pytest.mark.parametrize(
    ("args", "increment"),
    [(SIM_TIME, 10), ([], 0), ([*SIM_TIME, "-p", "nice:=0"], 0), (["-p", "nice:=4"], 4)],
    ids=["sim_time_auto", "wall_time_auto", "sim_time_nice0", "wall_time_nice4"],
)
def test_simulator_process_runs_niced(ros_env, tmp_path, args, increment):
    pytest.importorskip("rclpy", reason="needs the ROS venv (source scripts/env.sh)")
    import stack_harness as H

    log = open(tmp_path / "sim.log", "w")
    dds = str(H.process_dds_domain())
    cmd = [str(SIM), "--ros-args", "-p", f"dds_domain:={dds}", "-p", "motion_switcher:=false", *args]
    sim = subprocess.Popen(cmd, env=ros_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        text = lambda: (tmp_path / "sim.log").read_text()  # noqa: E731
        H.wait_for(lambda: "mujoco_sim: domain" in text() or sim.poll() is not None, 60)  # running
        time.sleep(1.0)
        assert sim.poll() is None, text()[-2000:]
        nices = _thread_nice(sim.pid)
        want = min(19, os.getpriority(os.PRIO_PROCESS, 0) + increment)
        assert ("simulator at nice" in text()) == (increment > 0), text()[-2000:]
        assert len(nices) >= 4, nices  # physics, rclpy spin and DDS threads
        assert set(nices.values()) == {want}, f"threads at {sorted(set(nices.values()))}, want {want}"
    finally:
        H.terminate(sim)
        log.close()
