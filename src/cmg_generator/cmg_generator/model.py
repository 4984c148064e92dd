"""Command-conditioned motion generator (CMG): a mixture-of-experts MLP.

The network maps (normalized motion state at frame t, normalized command at frame t) to the
normalized motion state at frame t+1. Run autoregressively at 50 Hz it turns a velocity command
into a whole-body motion (see :mod:`cmg_generator.runtime`).

Architecture (the seed's, sizes configurable through :class:`CMGConfig`)::

    x = concat(state_norm[:58], command_norm)                  # 61 inputs (the seed's)
    g = softmax(Linear(H_g -> E)(ELU(Linear(61 -> H_g)(x))))    # E expert coefficients, shared
    h1 = ELU(MoE_1(x, g))      MoE_1: 61 -> H
    h2 = ELU(MoE_2(h1, g))     MoE_2: H -> H
    y  = MoE_3(h2, g)          MoE_3: H -> D   (no activation; next frame, not a residual)

D = 58, or 65 with root channels. Root channels are **outputs only**: the input is always the
58 joint channels + command, so the network cannot read the current speed from a root-velocity
input and ignore the command (feeding the root velocity back made the generator lock into its
current gait); root quantities are predicted every step from joints + command.

Optional **phase channels** (``phase_channels=True``, D = 60 or 67): the gait phase as (sin, cos)
is an input *and* an output, as in phase-functioned / mode-adaptive networks. Without it, a slow
straight gait has so little joint motion that the state no longer tells where in the stride the
body is, and the autoregressive loop settles into a shuffle; with it the model is told the stride
position explicitly and the runtime keeps the clock turning (``cmg_generator.runtime``).

An MoE layer holds E linear experts. Blending the E weight matrices per sample (MANN style) is
mathematically identical to blending the E expert *outputs*; the latter is one dense matmul against
the concatenated weights (``[in, E*out]``) and was measured 20-40x faster on CPU, so that is what
:class:`MoELinear` does.

State layout
------------
:class:`StateLayout` is the one place that defines the state vector. The first 58 channels are the
upstream layout (29 joint positions ++ 29 joint velocities, G1 29-DOF order from
``twist_controller.robot.G1_JOINT_NAMES``). With ``root_channels=True`` seven root channels follow:
root height, root roll, root pitch, root linear velocity (x, y, z) in the root (pelvis) frame and
root yaw rate (pelvis angular velocity about its own z axis). A 58-only model is still a valid
model; the runtime then derives the root quantities from the command.

Command = (vx, vy, yaw_rate): pelvis linear velocity in the heading (yaw-only) frame [m/s] and
yaw rate [rad/s], see ``twist_training.cmg.data_adapter`` for how training labels are made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

NUM_JOINTS = 29
COMMAND_DIM = 3
COMMAND_NAMES = ("vx", "vy", "yaw_rate")
ROOT_CHANNEL_NAMES = (
    "root_height",
    "root_roll",
    "root_pitch",
    "root_lin_vel_x",
    "root_lin_vel_y",
    "root_lin_vel_z",
    "root_yaw_rate",
)
PHASE_CHANNEL_NAMES = ("phase_sin", "phase_cos")
PHASE_DIM = len(PHASE_CHANNEL_NAMES)


@dataclass(frozen=True)
class StateLayout:
    """Channel layout of a CMG motion state (the one definition used by every module).

    ``[0:29]`` joint positions (rad), ``[29:58]`` joint velocities (rad/s), then, when
    ``root_channels``: ``[58]`` root height (m), ``[59]`` roll, ``[60]`` pitch (rad, intrinsic ZYX
    Euler of the pelvis), ``[61:64]`` pelvis linear velocity in the pelvis frame (m/s), ``[64]``
    pelvis yaw rate about its own z axis (rad/s); then, when ``phase_channels``: the gait phase as
    ``(sin 2 pi phi, cos 2 pi phi)`` (phi = 0 when the right foot lifts off, 0.5 when the left does;
    see ``twist_training.cmg.phase``). Possible sizes: 58, 60, 65, 67.
    """

    root_channels: bool = False
    phase_channels: bool = False

    @property
    def dim(self) -> int:
        return self.phase_start + (PHASE_DIM if self.phase_channels else 0)

    joint_pos = slice(0, NUM_JOINTS)
    joint_vel = slice(NUM_JOINTS, 2 * NUM_JOINTS)
    root_height = 58
    root_roll = 59
    root_pitch = 60
    root_lin_vel = slice(61, 64)
    root_yaw_rate = 64
    root = slice(58, 65)

    @property
    def phase_start(self) -> int:
        """First phase channel (= the state size without phase channels)."""
        return 2 * NUM_JOINTS + (len(ROOT_CHANNEL_NAMES) if self.root_channels else 0)

    @property
    def phase(self) -> slice:
        if not self.phase_channels:
            raise AttributeError("this layout has no phase channels")
        return slice(self.phase_start, self.phase_start + PHASE_DIM)

    def channel_names(self, joint_names: tuple[str, ...] | list[str] | None = None) -> list[str]:
        if joint_names is None:
            joint_names = [f"joint_{i}" for i in range(NUM_JOINTS)]
        names = [f"{n}.pos" for n in joint_names] + [f"{n}.vel" for n in joint_names]
        if self.root_channels:
            names += list(ROOT_CHANNEL_NAMES)
        if self.phase_channels:
            names += list(PHASE_CHANNEL_NAMES)
        return names

    @classmethod
    def from_dim(cls, dim: int) -> StateLayout:
        for root in (False, True):
            for phase in (False, True):
                layout = cls(root, phase)
                if layout.dim == dim:
                    return layout
        raise ValueError(f"no CMG state layout has {dim} channels (58, 60, 65 or 67 expected)")


@dataclass
class CMGConfig:
    """Network sizes. Defaults = the seed's model (1,330,412 parameters for the 58-state)."""

    root_channels: bool = False
    phase_channels: bool = False  # gait phase (sin, cos) as input and output (see StateLayout)
    command_dim: int = COMMAND_DIM
    hidden_dim: int = 512
    gate_hidden_dim: int = 512
    num_experts: int = 4
    num_layers: int = 3

    @property
    def state_dim(self) -> int:
        return StateLayout(self.root_channels, self.phase_channels).dim

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CMGConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown CMGConfig keys: {sorted(unknown)}")
        return cls(**d)


class GatingNetwork(nn.Module):
    """Linear -> ELU -> Linear -> softmax: per-sample expert coefficients (B, E)."""

    def __init__(self, in_dim: int, hidden_dim: int, num_experts: int):
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, num_experts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.fc2(nn.functional.elu(self.fc1(x))), dim=-1)


class MoELinear(nn.Module):
    """E linear experts blended by coefficients: y = sum_e c_e (x W_e + b_e).

    Weights are stored as ``[in, E, out]`` so ``weight.view(in, E*out)`` is free and all experts
    run in one matmul. Init: He normal N(0, 2/in) per expert, zero bias (the seed's).
    """

    def __init__(self, in_dim: int, out_dim: int, num_experts: int):
        super().__init__()
        self.in_dim, self.out_dim, self.num_experts = in_dim, out_dim, num_experts
        self.weight = nn.Parameter(torch.randn(in_dim, num_experts, out_dim) * (2.0 / in_dim) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(num_experts, out_dim))

    def forward(self, x: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
        y = torch.matmul(x, self.weight.view(self.in_dim, self.num_experts * self.out_dim))
        y = y.view(x.shape[0], self.num_experts, self.out_dim) + self.bias
        return torch.bmm(coeffs.unsqueeze(1), y).squeeze(1)

    def blended_reference(self, x: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
        """Per-sample blended-weights formulation (slow; used by tests to prove equivalence)."""
        w = torch.einsum("be,ieo->bio", coeffs, self.weight)
        b = coeffs @ self.bias
        return torch.bmm(x.unsqueeze(1), w).squeeze(1) + b


class CMG(nn.Module):
    """The mixture-of-experts motion generator: forward(state_norm, command_norm) -> next state_norm."""

    def __init__(self, config: CMGConfig | None = None):
        super().__init__()
        self.config = config or CMGConfig()
        c = self.config
        if c.num_layers < 1:
            raise ValueError("num_layers must be >= 1")
        d = c.state_dim
        layout = StateLayout(c.root_channels, c.phase_channels)
        self.input_state_dim = 2 * NUM_JOINTS  # root channels (if any) are outputs only
        # phase channels (if any) are inputs and outputs: the clock the gait is generated against
        self.phase_start = layout.phase_start
        self.phase_dim = PHASE_DIM if c.phase_channels else 0
        in_dim = self.input_state_dim + self.phase_dim + c.command_dim
        self.state_dim = d
        self.command_dim = c.command_dim
        self.gate = GatingNetwork(in_dim, c.gate_hidden_dim, c.num_experts)
        dims = [in_dim] + [c.hidden_dim] * (c.num_layers - 1) + [d]
        self.layers = nn.ModuleList(
            MoELinear(dims[i], dims[i + 1], c.num_experts) for i in range(c.num_layers)
        )

    def forward(self, state: torch.Tensor, command: torch.Tensor) -> torch.Tensor:
        """state (B, D) normalized (root channels are ignored), command (B, 3) normalized."""
        parts = [state[:, : self.input_state_dim]]
        if self.phase_dim > 0:
            parts.append(state[:, self.phase_start : self.phase_start + self.phase_dim])
        parts.append(command)  # (not [*parts, command]: TorchScript cannot script list unpacking)
        x = torch.cat(parts, dim=-1)
        coeffs = self.gate(x)
        n = len(self.layers)
        for i, layer in enumerate(self.layers):
            x = layer(x, coeffs)
            if i < n - 1:
                x = nn.functional.elu(x)
        return x

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def load_state_dict_compat(model: CMG, state_dict: dict[str, torch.Tensor]) -> None:
    """Load our own state dicts, or the upstream layout when its key names are recognised.

    Upstream (cmg_workspace) experts are stored per layer as ``weight [E, in, out]`` / ``bias
    [E, out]``; such tensors are transposed to our ``[in, E, out]``. Unknown layouts raise.
    """
    sd = dict(state_dict)
    fixed = {}
    for k, v in sd.items():
        if k.endswith(".weight") and k.startswith("layers.") and v.dim() == 3:
            target = model.state_dict()[k]
            if v.shape != target.shape and v.permute(1, 0, 2).shape == target.shape:
                v = v.permute(1, 0, 2).contiguous()
        fixed[k] = v
    model.load_state_dict(fixed)
