"""Differentiable forward kinematics of the G1's feet (torch), and the stance-foot slip loss.

The CMG's mean-squared error treats every channel alike, so a model can get the joint angles
roughly right while the feet slide: at slow speeds a few centimetres of error in the stance foot's
travel turns a forward walk into a shuffle or even a backward one (the implied-speed metric of
``eval_cmg``). The slip loss scores what that metric measures: a predicted stance foot must stay
on the ground while the body moves as the predicted root channels say.

Kinematic constants (body offsets, rotations, joint axes of both leg chains) are read once from the
same MuJoCo model ``eval_cmg`` uses; :class:`FootKinematics` matches ``mj_kinematics`` (tested).
"""

from __future__ import annotations

import numpy as np
import torch

from cmg_generator.model import StateLayout
from twist_controller import robot
from twist_training.cmg.data_adapter import quat_to_matrix

LEG_BODIES = (
    "{side}_hip_pitch_link",
    "{side}_hip_roll_link",
    "{side}_hip_yaw_link",
    "{side}_knee_link",
    "{side}_ankle_pitch_link",
    "{side}_ankle_roll_link",
)


def _axis_rotation(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues: unit axis (3,), angles (B,) -> (B, 3, 3)."""
    k = torch.zeros(3, 3, dtype=angle.dtype, device=angle.device)
    k[0, 1], k[0, 2], k[1, 2] = -axis[2], axis[1], -axis[0]
    k = k - k.T
    s, c = torch.sin(angle)[:, None, None], torch.cos(angle)[:, None, None]
    eye = torch.eye(3, dtype=angle.dtype, device=angle.device)
    return eye + s * k + (1 - c) * (k @ k)


def roll_pitch_matrix(roll: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
    """R = Ry(pitch) Rx(roll) (intrinsic ZYX with yaw 0: the heading frame), (B, 3, 3)."""
    cr, sr, cp, sp = torch.cos(roll), torch.sin(roll), torch.cos(pitch), torch.sin(pitch)
    z = torch.zeros_like(roll)
    return torch.stack(
        [
            torch.stack([cp, sp * sr, sp * cr], -1),
            torch.stack([z, cr, -sr], -1),
            torch.stack([-sp, cp * sr, cp * cr], -1),
        ],
        -2,
    )


class FootKinematics(torch.nn.Module):
    """Feet (ankle-roll bodies) positions relative to the pelvis, in the heading frame."""

    def __init__(self):
        super().__init__()
        import mujoco

        from twist_controller.g1_model import g1_xml_path

        m = mujoco.MjModel.from_xml_path(str(g1_xml_path()))
        offsets, rotations, axes, joints = [], [], [], []
        for side in ("left", "right"):
            for pattern in LEG_BODIES:
                b = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, pattern.format(side=side))
                j = int(m.body_jntadr[b])
                if m.body_jntnum[b] != 1 or np.any(m.jnt_pos[j] != 0):
                    raise ValueError(f"unexpected joint layout at {pattern.format(side=side)}")
                offsets.append(m.body_pos[b])
                rotations.append(quat_to_matrix(m.body_quat[b]))
                axes.append(m.jnt_axis[j])
                joints.append(int(m.jnt_qposadr[j]) - 7)  # free joint first: qpos[7:] = G1 order
        n = len(LEG_BODIES)

        def table(x, *shape):
            return torch.tensor(np.array(x), dtype=torch.float32).view(2, n, *shape)

        self.register_buffer("offsets", table(offsets, 3))
        self.register_buffer("rotations", table(rotations, 3, 3))
        self.register_buffer("axes", table(axes, 3))
        self.joints = [joints[:n], joints[n:]]  # indices into the G1 joint order (robot spec)
        if max(joints) >= robot.NUM_JOINTS:
            raise ValueError("leg joint outside the 29-DOF G1 order")

    def forward(self, joint_pos: torch.Tensor, roll: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
        """joint_pos (B, 29), roll/pitch (B,) -> feet positions (B, 2, 3), pelvis at the origin."""
        base = roll_pitch_matrix(roll, pitch)
        feet = []
        for s in range(2):
            rot = base
            pos = torch.zeros(joint_pos.shape[0], 3, dtype=joint_pos.dtype, device=joint_pos.device)
            for k, q_index in enumerate(self.joints[s]):
                pos = pos + rot @ self.offsets[s, k]
                rot = rot @ self.rotations[s, k] @ _axis_rotation(self.axes[s, k], joint_pos[:, q_index])
            feet.append(pos)
        return torch.stack(feet, 1)


class SlipLoss(torch.nn.Module):
    """Mean ground speed (m/s) of the predicted stance feet.

    Per step t -> t+1 of a rollout (raw units, 65- or 67-channel states with root channels):
    foot velocity over the ground = v_root + w x p + dp/dt, with p the predicted foot relative to
    the pelvis, dp/dt from the model's input frame to its prediction, and v_root, w the predicted
    root velocity and yaw rate (detached: the legs must carry the body at the speed the root
    channels state, and those are fitted to the ground truth by the MSE). A predicted
    foot is planted when it is the lower one (within ``height_margin``) and its sole is near the
    ground (``contact_height`` above it, using the predicted root height). The mask comes from the
    prediction, not the ground truth: in free-running rollouts the prediction drifts off the ground
    truth's stride timing, and a ground-truth mask would then score swing feet.
    """

    def __init__(self, dt: float = 0.02, contact_height: float = 0.05, height_margin: float = 0.01):
        super().__init__()
        self.fk = FootKinematics()
        self.dt, self.contact_height, self.height_margin = dt, contact_height, height_margin
        self.layout = StateLayout(root_channels=True)

    def feet(self, raw: torch.Tensor) -> torch.Tensor:
        lay = self.layout
        return self.fk(raw[:, lay.joint_pos], raw[:, lay.root_roll], raw[:, lay.root_pitch])

    def root_velocity(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Heading-frame pelvis velocity (B, 3) and yaw rate (B,) of raw states."""
        lay = self.layout
        r = roll_pitch_matrix(raw[:, lay.root_roll], raw[:, lay.root_pitch])
        return (r @ raw[:, lay.root_lin_vel].unsqueeze(-1)).squeeze(-1), raw[:, lay.root_yaw_rate]

    def world_foot_velocity(self, p0, p1, v_root, yaw_rate):
        w_cross_p = torch.stack([-yaw_rate[:, None] * p1[..., 1], yaw_rate[:, None] * p1[..., 0]], -1)
        return v_root[:, None, :2] + w_cross_p + (p1[..., :2] - p0[..., :2]) / self.dt

    @torch.no_grad()
    def planted(self, raw: torch.Tensor, feet: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 2) bool: feet on the ground in raw states (B, D)."""
        feet = self.feet(raw) if feet is None else feet
        z = feet[..., 2] + raw[:, self.layout.root_height, None]  # above the ground
        lower = z <= z.min(dim=1, keepdim=True).values + self.height_margin
        return lower & (z < self.contact_height)

    def forward(self, inputs: torch.Tensor, preds: torch.Tensor) -> torch.Tensor:
        """inputs, preds (B, L, D) raw (the model's input and output at each step) -> loss (m/s)."""
        D = preds.shape[-1]
        flat = preds.reshape(-1, D)
        p1 = self.feet(flat)
        stance = self.planted(flat, p1.detach())
        with torch.no_grad():
            # the model's own root outputs (trained against the ground truth by the MSE): the legs
            # must agree with them. The ground truth's root velocity would punish every window
            # that starts from standing or lags a command change by a few frames.
            v_root, yaw_rate = self.root_velocity(flat)
            p0 = self.feet(inputs.reshape(-1, D))
        v = self.world_foot_velocity(p0, p1, v_root, yaw_rate)
        w = stance.to(v.dtype)
        # the speed itself (m/s), not its square: heel-strike frames, where the landing foot is
        # briefly the lower one while still moving, and mocap foot skate must not dominate
        speed = torch.sqrt((v**2).sum(-1) + 1e-6)
        return (speed * w).sum() / w.sum().clamp(min=1.0)
