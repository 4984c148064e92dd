"""Shared by scripts/bench.py and the reliability tests: run the simulated graph as processes and
watch the robot link on the wire.

* ``tiny_cmg(path)`` / ``zero_policy(path)``: untrained plumbing models (no trained model needed);
* ``Stack``: the sim graph's nodes started with exactly the command lines of ``g1_bringup.graph``
  (``stack --dry-run``), each on its own log, on a private ROS domain and DDS domain; kill/stop/
  continue/restart one process; ``close()`` ends every process it started. ``compose=True`` runs
  cmg_node, reference_mux and policy_node in one ``control_chain`` process as ``make sim`` does;
  the default (False) keeps them apart, so a fault test can kill one of them;
* ``WireProbe``: a cyclonedds reader of ``rt/lowcmd`` and ``rt/lowstate`` (no writer) that stamps
  every message with ``time.monotonic()`` (one clock for the whole machine), classifies each
  LowCmd into the bridge mode it implies and keeps joint velocity and torque extremes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / "install"

# nodes of the sim graph the reliability runs use (foxglove, player, teleop, redis left out)
CONTROL_NODES = ("mujoco_sim", "pd_bridge", "cmg_node", "reference_mux", "policy_node")


def tiny_cmg(path: Path, hidden: int = 32, root_channels: bool = True) -> Path:
    """An untrained CMG artifact with the real state layout (65 channels; 58 without root channels,
    whose reference root velocity is then the filtered command itself), for plumbing tests."""
    import torch

    from cmg_generator.artifact import NormStats, make_metadata, save_artifact
    from cmg_generator.model import CMG, CMGConfig
    from twist_controller import robot

    torch.manual_seed(0)
    cfg = CMGConfig(
        root_channels=root_channels, hidden_dim=hidden, gate_hidden_dim=hidden, num_experts=2, num_layers=2
    )
    rng = np.random.default_rng(0)
    d = cfg.state_dim
    standing = np.zeros(d)
    standing[: robot.NUM_JOINTS] = robot.DEFAULT_POSITION
    if d > 2 * robot.NUM_JOINTS:  # root channels: height first
        standing[2 * robot.NUM_JOINTS] = robot.STANDING_PELVIS_HEIGHT
    data = standing + 0.01 * rng.normal(size=(200, d))
    st = NormStats.compute(data, rng.uniform(-1, 1, size=(200, 3)))
    model = CMG(cfg)
    with torch.no_grad():  # untrained but tame: the output stays at the standing state
        for p in model.parameters():
            p.mul_(0.01)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_artifact(path, model, st, make_metadata(st, standing))


def zero_policy(path: Path) -> Path:
    """A 1155 -> 23 policy whose actions are 0: targets = the default pose (holds the robot still)."""
    import torch

    from twist_controller.policy import export_policy

    net = torch.nn.Linear(1155, 23)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.zero_()
    path.parent.mkdir(parents=True, exist_ok=True)
    return export_policy(net, path)


def probe_policy(path: Path, gain: float = 1.0) -> Path:
    """A 1155 -> 23 policy whose every action = gain x the reference forward velocity (observation
    index 4): a /cmd_vel step shows up in every joint target, so latency can be read off LowCmd."""
    import torch

    from twist_controller.policy import export_policy

    net = torch.nn.Linear(1155, 23)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.zero_()
        net.weight[:, 4] = gain
    path.parent.mkdir(parents=True, exist_ok=True)
    return export_policy(net, path)


def soak_command(t: float) -> tuple[float, float]:
    """(vx, wz) of the soak and load tests' slow sweep at t s: one profile, so their runs compare."""
    return 0.3 * np.sin(2 * np.pi * t / 20.0), 0.3 * np.sin(2 * np.pi * t / 33.0)


def wait_for(pred, timeout: float, poll: float = 0.02) -> bool:
    """Poll ``pred`` until it is true or ``timeout`` s passed; its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(poll)
    return bool(pred())


def terminate(p: subprocess.Popen, timeout: float = 10.0) -> None:
    """End a process: SIGCONT (it may be SIGSTOPped by a fault test), SIGTERM, SIGKILL after
    ``timeout``; waits for it."""
    if p.poll() is None:
        p.send_signal(signal.SIGCONT)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def process_dds_domain() -> int:
    """The robot-link DDS domain of this process (fixed per process: the SDK's DDS set-up is a
    process-wide singleton), apart from concurrent runs by pid; ``G1_TEST_DDS_DOMAIN`` overrides it."""
    if os.environ.get("G1_TEST_DDS_DOMAIN"):
        return int(os.environ["G1_TEST_DDS_DOMAIN"])
    return 200 + os.getpid() % 33


class Stack:
    def __init__(self, workdir: Path, cmg_path: Path, policy_path: Path, ros_domain: int, dds_domain: int,
                 extra_args: dict[str, str] | None = None,
                 node_params: dict[str, list[str]] | None = None, compose: bool = False):  # fmt: skip
        from g1_bringup.graph import sim_graph
        from g1_bringup.stack import node_command

        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        graph = sim_graph()
        args = graph.argument_defaults()
        args.update(
            dds_domain=str(dds_domain),
            cmg_model_path=str(cmg_path),
            policy_path=str(policy_path),
            foxglove="false",
            auto_stand="true",
            auto_policy="true",
        )
        args.update(extra_args or {})
        args["compose"] = "true" if compose else "false"
        self._graph = graph
        # per node, the command line it runs alone with (a container's is built from its members')
        self.commands = {
            n.name: node_command(n, args, INSTALL) for n in graph.nodes if n.name in CONTROL_NODES
        }
        self.container = graph.container_of("policy_node") if compose else None
        # the processes, in start order
        self.names: tuple[str, ...] = tuple(
            n for n in CONTROL_NODES if self.container is None or n not in self.container.members
        ) + ((self.container.name,) if self.container is not None else ())
        for name, params in (node_params or {}).items():
            self.add_params(name, params)
        self.env = dict(os.environ)
        self.env.update(ROS_DOMAIN_ID=str(ros_domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
                        PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")  # fmt: skip
        self.ros_domain, self.dds_domain = ros_domain, dds_domain
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: list = []
        self.starts: dict[str, int] = {}

    def add_params(self, name: str, params: list[str]) -> None:
        """Append ``key:=value`` overrides to a node's command line (used from its next start)."""
        if name not in self.commands:
            raise ValueError(f"node_params for {name!r}, which is not one of {CONTROL_NODES}")
        for p in params:  # "key:=value", after the parameter files: a -p override wins
            if ":=" not in p:
                raise ValueError(f"node_params entry {p!r} is not key:=value")
            self.commands[name] += ["-p", p]

    def stop(self, name: str, timeout: float = 10.0) -> None:
        """End one node (SIGTERM, SIGKILL after ``timeout``) and wait for it."""
        terminate(self.procs[name], timeout)

    def command(self, name: str) -> list[str]:
        """The command line of process ``name`` (a node, or the container of the composed ones)."""
        if self.container is not None and name == self.container.name:
            from g1_bringup.stack import container_command

            members = [self._graph.node(m) for m in self.container.members]
            return container_command(
                self.container, [(m.executable, self.commands[m.name]) for m in members], INSTALL
            )
        if self.container is not None and name in self.container.members:
            raise ValueError(f"{name} runs inside {self.container.name} (compose=True)")
        return self.commands[name]

    def start(self, *names: str) -> None:
        from g1_bringup.stack import die_with_parent

        for name in names or self.names:
            n = self.starts.get(name, 0)
            log = open(self.workdir / f"{name}.{n}.log", "w")
            self._logs.append(log)
            self.procs[name] = subprocess.Popen(
                self.command(name),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                # SIGKILL with the harness process: one that segfaulted never ran its teardown, and
                # its five nodes kept running (load 27 an hour later)
                preexec_fn=die_with_parent(),
            )
            self.starts[name] = n + 1

    def pid(self, name: str) -> int:
        return self.procs[name].pid

    def nice(self, name: str) -> int:
        """The niceness process ``name`` runs at now (its main thread's; the simulator sets its own)."""
        return os.getpriority(os.PRIO_PROCESS, self.pid(name))

    def signal(self, name: str, sig: int) -> float:
        """Send ``sig``; returns the monotonic time just before sending."""
        t = time.monotonic()
        os.kill(self.procs[name].pid, sig)
        return t

    def kill9(self, name: str) -> float:
        t = self.signal(name, signal.SIGKILL)
        self.procs[name].wait(10)
        return t

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    def log(self, name: str, run: int | None = None) -> str:
        run = self.starts[name] - 1 if run is None else run
        return (self.workdir / f"{name}.{run}.log").read_text(errors="replace")

    def close(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGCONT)
                    p.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for f in self._logs:
            f.close()


def policy_joint_offset(q: np.ndarray, idx: np.ndarray, default: np.ndarray) -> float:
    """Median over the 23 policy joints of (target - default): the probe policy moves them all by
    ACTION_SCALE x the reference vx (the bridge's joint-limit clip cannot move a median much)."""
    return float(np.median(q[idx] - default))


class WireSignal:
    """``WireProbe.cmd_hook``: (t, mode, policy-joint offset) of every LowCmd on the wire, for
    latency and write checks that encode a value into every policy joint target."""

    def __init__(self, probe):
        from twist_controller import robot

        self.probe = probe
        self.idx = robot.POLICY_TO_FULL
        self.default = np.asarray(robot.DEFAULT_POSITION, dtype=np.float64)[robot.POLICY_TO_FULL]
        self.rows: list[tuple[float, str, float]] = []
        probe.cmd_hook = self

    def __call__(self, t, m):  # under probe.lock
        q = np.asarray(m.motor("q"), dtype=np.float64)
        self.rows.append((t, self.probe.classify(m), policy_joint_offset(q, self.idx, self.default)))


class WireProbe:
    """Listens to the robot link; every record is (monotonic time, ...)."""

    def __init__(self, dds_domain: int, lowstate: bool = True):
        """``lowstate=False``: LowCmd only (the latency bench: 500 Hz of LowState parsed in Python
        would load the measuring process more than the chain it measures)."""
        from cyclonedds.core import Listener
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_, LowState_

        from twist_controller import robot, unitree_io

        self._io, self._robot = unitree_io, robot
        self.lock = threading.Lock()
        self.cmds: list[tuple[float, str, float]] = []  # (t, mode, max |q - default|)
        self.states: list[tuple[float, float, float]] = []  # (t, max |dq|, max |tau| / limit)
        # (t, reserve[0]) of every LowState whose reserve[0] changed: the simulator's LowCmd-watchdog
        # marker (g1_bringup.simulator.sim_core.LOWSTATE_WATCHDOG_FLAG while it damps)
        self.state_flags: list[tuple[float, int]] = []
        self.last_cmd = None
        self.last_state = None
        # optional ``f(t, msg)`` called for every good LowCmd, under ``lock`` (bench: per-message signals)
        self.cmd_hook = None
        # the SDK's loopback config (no multicast, localhost peers), as the nodes use; one domain per
        # process (the SDK's channel factory is a singleton)
        self.dp = unitree_io.init_dds(dds_domain, "lo")
        cmd_topic = Topic(self.dp, "rt/lowcmd", LowCmd_)
        state_topic = Topic(self.dp, "rt/lowstate", LowState_)
        self._readers = [DataReader(self.dp, cmd_topic, listener=Listener(on_data_available=self._on_cmd))]
        if lowstate:
            self._readers.append(
                DataReader(self.dp, state_topic, listener=Listener(on_data_available=self._on_state))
            )

    @staticmethod
    def _take(reader):
        from cyclonedds._clayer import ddspy_take

        s = ddspy_take(reader._ref, 64)
        return [] if isinstance(s, int) else [bytearray(d) for d, info in s if info.valid_data]

    def classify(self, msg) -> str:
        kp, kd = msg.motor("kp"), msg.motor("kd")
        if np.all(kp == 0):
            return "ZERO_TORQUE" if np.all(kd == 0) else "DAMPING"
        return "ACTIVE"  # STAND_UP or POLICY (gains on)

    def _on_cmd(self, reader) -> None:
        t = time.monotonic()
        for data in self._take(reader):
            m = self._io.LowCmd(data)
            if not m.crc_ok():
                continue
            dev = float(np.max(np.abs(m.motor("q") - self._robot.DEFAULT_POSITION)))
            with self.lock:
                self.cmds.append((t, self.classify(m), dev))
                self.last_cmd = m
                if self.cmd_hook is not None:
                    self.cmd_hook(t, m)

    def _on_state(self, reader) -> None:
        t = time.monotonic()
        for data in self._take(reader):
            m = self._io.LowState(data)
            if not m.crc_ok():
                continue
            dq = float(np.max(np.abs(m.motor("dq"))))
            tau = float(np.max(np.abs(m.motor("tau_est")) / self._robot.TORQUE_LIMIT))
            flag = int(m.get("reserve")[0])
            with self.lock:
                self.states.append((t, dq, tau))
                if not self.state_flags or self.state_flags[-1][1] != flag:
                    self.state_flags.append((t, flag))
                self.last_state = m

    # ------------------------------------------------------------------ queries
    def wait_for(self, pred, timeout: float, poll: float = 0.01) -> bool:
        return wait_for(pred, timeout, poll)

    def first_cmd_after(self, t0: float, mode: str) -> float | None:
        with self.lock:
            for t, m, _ in self.cmds:
                if t >= t0 and m == mode:
                    return t
        return None

    def first_state_flag_after(self, t0: float, flag: int) -> float | None:
        """First LowState at or after ``t0`` whose reserve[0] became ``flag`` (None: not seen)."""
        with self.lock:
            for t, f in self.state_flags:
                if t >= t0 and f == flag:
                    return t
        return None

    def last_cmd_before(self, t1: float) -> float | None:
        with self.lock:
            ts = [t for t, _, _ in self.cmds if t <= t1]
        return ts[-1] if ts else None

    def cmd_count(self, t0: float, t1: float = float("inf")) -> int:
        with self.lock:
            return sum(1 for t, _, _ in self.cmds if t0 <= t <= t1)

    def modes_between(self, t0: float, t1: float) -> set[str]:
        with self.lock:
            return {m for t, m, _ in self.cmds if t0 <= t <= t1}

    def extremes(self, t0: float, t1: float) -> dict:
        with self.lock:
            s = [(dq, tau) for t, dq, tau in self.states if t0 <= t <= t1]
        if not s:
            return {"max_dq": float("nan"), "max_tau_ratio": float("nan"), "lowstate_samples": 0}
        a = np.asarray(s)
        return {
            "max_dq": float(a[:, 0].max()),
            "max_tau_ratio": float(a[:, 1].max()),
            "lowstate_samples": len(s),
        }

    def close(self) -> None:
        self._readers = []
