"""TWIST's actor/critic network (upstream_facts D.2) as an rsl-rl-lib 5.x model class.

``TwistModel`` is an ``rsl_rl.models.MLPModel`` whose MLP is replaced by :class:`TwistNet`: a
motion encoder over the first ``motion_frames x motion_frame_size`` inputs (per-frame Linear(S,60);
for 20 frames Conv1d(60,40,k6,s2) + Conv1d(40,20,k4,s2) -> 60; for 1 frame just the 60 features;
then Linear(60,128)), concatenated with [the non-motion inputs, the first motion frame] and fed to
a SiLU MLP [512, 512, 256, 128] with one LayerNorm after the 256->128 layer. Observation
normalization and the Gaussian head (learnable std, init 1.0) are rsl-rl's, so checkpoints,
export and the PPO code paths are unchanged.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from rsl_rl.models import MLPModel


def _act(name: str) -> nn.Module:
    return {"silu": nn.SiLU, "elu": nn.ELU, "relu": nn.ReLU, "tanh": nn.Tanh}[name.lower()]()


class TwistNet(nn.Module):
    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        motion_frames: int,
        motion_frame_size: int,
        hidden_dims=(512, 512, 256, 128),
        activation: str = "silu",
        latent_dim: int = 128,
        layer_norm: bool = True,
        channels: int = 20,
    ):
        super().__init__()
        self.T, self.S = int(motion_frames), int(motion_frame_size)
        if self.T * self.S > in_dim:
            raise ValueError(f"motion block {self.T}x{self.S} larger than the input ({in_dim})")
        self.frame_proj = nn.Sequential(nn.Linear(self.S, 3 * channels), _act(activation))
        if self.T == 1:
            self.conv = nn.Identity()
            flat = 3 * channels
        else:
            self.conv = nn.Sequential(
                nn.Conv1d(3 * channels, 2 * channels, kernel_size=6, stride=2),
                _act(activation),
                nn.Conv1d(2 * channels, channels, kernel_size=4, stride=2),
                _act(activation),
            )
            with torch.no_grad():
                flat = self.conv(torch.zeros(1, 3 * channels, self.T)).numel()
        self.latent = nn.Linear(flat, latent_dim)
        layers: list[nn.Module] = []
        d = in_dim - self.T * self.S + self.S + latent_dim
        for i, h in enumerate(hidden_dims):
            layers.append(nn.Linear(d, h))
            if layer_norm and i == len(hidden_dims) - 1:
                layers.append(nn.LayerNorm(h))
            layers.append(_act(activation))
            d = h
        layers.append(nn.Linear(d, out_dim))
        self.backbone = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        m = x[:, : self.T * self.S]
        f = self.frame_proj(m.reshape(n * self.T, self.S)).reshape(n, self.T, -1)
        if self.T > 1:
            f = self.conv(f.transpose(1, 2))
        z = self.latent(f.reshape(n, -1))
        return self.backbone(torch.cat([x[:, self.T * self.S :], m[:, : self.S], z], dim=-1))


class TwistModel(MLPModel):
    """rsl-rl model with the TWIST network; extra kwargs configure :class:`TwistNet`."""

    def __init__(
        self,
        obs,
        obs_groups,
        obs_set,
        output_dim,
        hidden_dims=(512, 512, 256, 128),
        activation: str = "silu",
        obs_normalization: bool = True,
        distribution_cfg: dict | None = None,
        motion_frames: int = 20,
        motion_frame_size: int = 58,
        latent_dim: int = 128,
        layer_norm: bool = True,
        normalizer_until: int | None = None,
    ):
        # the parent builds a throw-away plain MLP (tiny); it is replaced by TwistNet right below
        super().__init__(
            obs, obs_groups, obs_set, output_dim, (8,), "elu", obs_normalization, distribution_cfg
        )
        out = self.distribution.input_dim if self.distribution is not None else output_dim
        self.mlp = TwistNet(
            self.obs_dim,
            out,
            motion_frames,
            motion_frame_size,
            tuple(hidden_dims),
            activation,
            latent_dim,
            layer_norm,
        )
        if self.distribution is not None:
            self.distribution.init_mlp_weights(self.mlp)
        if obs_normalization and normalizer_until:
            self.obs_normalizer.until = int(normalizer_until)


class DeterministicPolicy(nn.Module):
    """normalize -> net -> action mean; what gets exported (no std, no clipping, no scaling)."""

    def __init__(self, model: MLPModel):
        super().__init__()
        import copy

        self.obs_normalizer = copy.deepcopy(model.obs_normalizer)
        self.mlp = copy.deepcopy(model.mlp)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.obs_normalizer(obs))
