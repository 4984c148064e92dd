"""The holosoma walking expert as a batched DAgger teacher.

* Batched: the expert ONNX is run with a dynamic batch (:func:`twist_controller.expert.dynamic_batch_session`
  via :func:`twist_controller.policy.load_policy`), one call labels every env.
* Its observation is built by the deployment builder (:class:`LocoObservationBuilder`), so the teacher
  in training sees exactly what ``controller:=expert_fastsac`` sees in the stack.
* Speed response inverted (optional): the expert under-delivers (vx 1.0 -> ~0.73, vy about half). With
  a measured per-axis response curve (:class:`ResponseCurve`), the teacher is commanded c' such that its
  *measured* speed at c' is the command c: labels then reach the commanded speed where the expert can.
* Gait clock (optional): driven from the CMG's phase + a calibrated offset, so the legs of the
  reference the student observes are in step with the teacher's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from twist_controller.loco_observations import LocoObservationBuilder
from twist_controller.observations import RobotInput
from twist_controller.policy import LoadedPolicy, load_policy


@dataclass
class ResponseCurve:
    """Measured steady speed per axis as a function of the command on that axis (others zero)."""

    vx_cmd: list[float]
    vx_out: list[float]
    vy_cmd: list[float]
    vy_out: list[float]
    yaw_cmd: list[float]
    yaw_out: list[float]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> ResponseCurve:
        return cls(**json.loads(Path(path).read_text()))

    @staticmethod
    def _invert(cmd: np.ndarray, out: np.ndarray, want: np.ndarray) -> np.ndarray:
        """Command that gives ``want`` by the piecewise-linear curve (monotone part only); outside the
        reachable range the largest command in that direction."""
        order = np.argsort(cmd)
        c, o = np.asarray(cmd)[order], np.maximum.accumulate(np.asarray(out)[order])  # monotone
        return np.interp(want, o, c, left=c[0], right=c[-1])

    def invert(self, command: np.ndarray) -> np.ndarray:
        """(N, 3) commands -> (N, 3) teacher commands (zero stays exactly zero: the stand freeze)."""
        c = np.asarray(command, dtype=np.float64)
        out = np.empty_like(c)
        out[:, 0] = self._invert(self.vx_cmd, self.vx_out, c[:, 0])
        out[:, 1] = self._invert(self.vy_cmd, self.vy_out, c[:, 1])
        out[:, 2] = self._invert(self.yaw_cmd, self.yaw_out, c[:, 2])
        out[c == 0.0] = 0.0
        return out


class ExpertTeacher:
    """Batched expert: ``act(command, state, cmg_phase)`` -> raw 29-DOF actions (N, 29)."""

    def __init__(
        self,
        name: str,
        num_envs: int,
        response: ResponseCurve | None = None,
        phase_offset: float | None = None,
    ):
        self.policy: LoadedPolicy = load_policy(f"expert:{name}")
        self.meta = self.policy.metadata
        self.builder = LocoObservationBuilder(num_envs, self.meta.default_array, self.meta.control_dt)
        self.response = response
        self.phase_offset = phase_offset  # None: the expert's own clock
        self.low = np.asarray(self.meta.command_low, dtype=np.float64)
        self.high = np.asarray(self.meta.command_high, dtype=np.float64)

    def reset(self, env_ids: np.ndarray) -> None:
        self.builder.reset(env_ids)

    def teacher_command(self, command: np.ndarray) -> np.ndarray:
        c = self.response.invert(command) if self.response is not None else np.asarray(command, float)
        return np.clip(c, self.low, self.high)

    def act(self, command: np.ndarray, state: RobotInput, cmg_phase: np.ndarray | None = None) -> np.ndarray:
        cmd = self.teacher_command(command)
        left = None
        if self.phase_offset is not None and cmg_phase is not None:
            left = np.asarray(cmg_phase, dtype=np.float64) + self.phase_offset
        obs = self.builder.build(cmd, state, left_phase=left)
        return self.policy.act(obs)
