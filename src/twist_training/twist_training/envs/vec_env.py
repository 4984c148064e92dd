"""rsl-rl-lib 5.x ``VecEnv`` adapter around :class:`TrackingEnv` (numpy <-> torch, TensorDict obs).

Observation groups: ``teacher`` (1318, privileged, TWIST B.2) and ``student`` (1155, B.3). The
runner's ``obs_groups`` decide who sees what (teacher: actor+critic <- teacher; student: actor <-
student, critic <- teacher).
"""

from __future__ import annotations

import numpy as np
import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from .tracking_env import TrackingEnv


class TwistVecEnv(VecEnv):
    def __init__(self, env: TrackingEnv, device: str = "cpu"):
        self.env = env
        self.num_envs = env.num_envs
        self.num_actions = env.num_actions
        self.max_episode_length = env.max_episode_length
        self.device = device
        self.cfg = env.cfg

    @property
    def episode_length_buf(self) -> torch.Tensor:
        return torch.as_tensor(self.env.episode_length, device=self.device)

    @episode_length_buf.setter
    def episode_length_buf(self, value: torch.Tensor) -> None:
        self.env.episode_length[:] = np.asarray(value.cpu())

    def _td(self, obs: dict[str, np.ndarray]) -> TensorDict:
        return TensorDict(
            {k: torch.as_tensor(v, device=self.device) for k, v in obs.items()},
            batch_size=[self.num_envs],
            device=self.device,
        )

    def get_observations(self) -> TensorDict:
        return self._td(self.env.obs)

    def step(self, actions: torch.Tensor):
        out = self.env.step(actions.detach().cpu().numpy())
        rew = torch.as_tensor(out.reward, dtype=torch.float32, device=self.device)
        done = torch.as_tensor(out.done, device=self.device)
        extras = {
            "time_outs": torch.as_tensor(out.time_out, device=self.device),
            "log": out.log,
        }
        return self._td(out.obs), rew, done, extras
