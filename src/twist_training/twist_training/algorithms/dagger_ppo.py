"""DAgger-PPO (TWIST's student algorithm, upstream_facts D.3) as an extension of rsl-rl-lib's PPO.

``DaggerPPO`` subclasses ``rsl_rl.algorithms.PPO``: acting, storage, GAE, checkpoints and the
runner are rsl-rl's. Only ``update`` is overridden, to add ``coef x KL(student || teacher)`` to
the PPO loss of every minibatch (one Adam step on the sum, grad clip 1.0, as upstream). The KL is
the closed-form diagonal-Gaussian KL, averaged over batch x actions; the teacher (frozen, with its
own observation normalizer) is evaluated on the same minibatch's privileged ``teacher`` group.

Coefficient schedule (our choice, see docs/training.md): a *non-compounding* cosine from
``dagger_coef`` (0.1) to ``dagger_coef_min`` (0.01) over ``dagger_anneal_iters`` iterations, then
held at the floor. Upstream multiplies the current value by the cosine factor every iteration,
which compounds to ~2e-4 by iteration 3000 and 4e-14 by 5000 (the KL term vanishes until it jumps
back to 0.01 at 60000) - evidently not the intent of its own "0.1 -> min 0.01" comment. Keeping a
floor keeps the student anchored to the teacher while PPO fine-tunes it. The schedule position is
saved in checkpoints, so a resumed run continues the anneal instead of restarting it.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from rsl_rl.algorithms import PPO


def dagger_coefficient(
    it: int, start: float, floor: float, anneal_iters: int, schedule: str = "cosine"
) -> float:
    """Coefficient at iteration ``it`` (0-based count of completed updates)."""
    if schedule == "constant" or anneal_iters <= 0:
        return start
    if schedule == "upstream_compounding":  # reproduces TWIST's code behaviour, for comparison
        c = start
        for k in range(1, it + 1):
            c = c * 0.5 * (1 + math.cos(math.pi * k / 60000)) if k < 60000 else floor
        return c
    frac = min(it / anneal_iters, 1.0)
    return floor + (start - floor) * 0.5 * (1.0 + math.cos(math.pi * frac))


def gaussian_kl(mu_s, std_s, mu_t, std_t) -> torch.Tensor:
    """Elementwise KL(N(mu_s, std_s) || N(mu_t, std_t))."""
    return torch.log(std_t / std_s) + (std_s**2 + (mu_s - mu_t) ** 2) / (2.0 * std_t**2) - 0.5


class DaggerPPO(PPO):
    teacher: nn.Module | None = None

    def __init__(
        self,
        *args,
        dagger_coef: float = 0.1,
        dagger_coef_min: float = 0.01,
        dagger_anneal_iters: int = 3000,
        dagger_schedule: str = "cosine",
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if self.rnd is not None or self.symmetry is not None or self.is_multi_gpu:
            raise ValueError("DaggerPPO supports neither RND, symmetry nor multi-GPU")
        self.dagger_coef0 = dagger_coef
        self.dagger_coef_min = dagger_coef_min
        self.dagger_anneal_iters = dagger_anneal_iters
        self.dagger_schedule = dagger_schedule
        self.dagger_iter = 0

    @property
    def dagger_coef(self) -> float:
        return dagger_coefficient(
            self.dagger_iter,
            self.dagger_coef0,
            self.dagger_coef_min,
            self.dagger_anneal_iters,
            self.dagger_schedule,
        )

    def attach_teacher(self, teacher: nn.Module) -> None:
        self.teacher = teacher.to(self.device).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def teacher_kl(self, obs) -> float:
        """Mean KL(student || teacher) on a batch of observations (for monitoring and tests)."""
        self.actor(obs, stochastic_output=True)
        self.teacher(obs, stochastic_output=True)
        kl = gaussian_kl(
            self.actor.output_mean, self.actor.output_std, self.teacher.output_mean, self.teacher.output_std
        )
        return float(kl.mean())

    def update(self) -> dict[str, float]:
        if self.teacher is None:
            raise RuntimeError("DaggerPPO.update: no teacher attached (attach_teacher)")
        coef = self.dagger_coef
        sums = {"value": 0.0, "surrogate": 0.0, "entropy": 0.0, "dagger_kl": 0.0}
        generator = self.storage.mini_batch_generator(self.num_mini_batches, self.num_learning_epochs)
        for batch in generator:
            self.actor(batch.observations, stochastic_output=True)
            log_prob = self.actor.get_output_log_prob(batch.actions)
            values = self.critic(batch.observations)
            params = self.actor.output_distribution_params
            entropy = self.actor.output_entropy
            mu_s, std_s = self.actor.output_mean, self.actor.output_std

            if self.desired_kl is not None and self.schedule == "adaptive":
                with torch.inference_mode():
                    kl_mean = torch.mean(self.actor.get_kl_divergence(batch.old_distribution_params, params))
                    if kl_mean > self.desired_kl * 2.0:
                        self.learning_rate = max(1e-5, self.learning_rate / 1.5)
                    elif 0.0 < kl_mean < self.desired_kl / 2.0:
                        self.learning_rate = min(1e-2, self.learning_rate * 1.5)
                    for g in self.optimizer.param_groups:
                        g["lr"] = self.learning_rate

            ratio = torch.exp(log_prob - torch.squeeze(batch.old_actions_log_prob))
            adv = torch.squeeze(batch.advantages)
            surrogate = torch.max(
                -adv * ratio, -adv * torch.clamp(ratio, 1 - self.clip_param, 1 + self.clip_param)
            ).mean()
            if self.use_clipped_value_loss:
                v_clip = batch.values + (values - batch.values).clamp(-self.clip_param, self.clip_param)
                value_loss = torch.max(
                    (values - batch.returns).pow(2), (v_clip - batch.returns).pow(2)
                ).mean()
            else:
                value_loss = (batch.returns - values).pow(2).mean()

            with torch.no_grad():
                self.teacher(batch.observations, stochastic_output=True)
                mu_t, std_t = self.teacher.output_mean, self.teacher.output_std
            dagger_kl = gaussian_kl(mu_s, std_s, mu_t, std_t).mean()

            loss = (
                surrogate
                + self.value_loss_coef * value_loss
                - self.entropy_coef * entropy.mean()
                + coef * dagger_kl
            )
            self.optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.actor.parameters(), self.max_grad_norm)
            nn.utils.clip_grad_norm_(self.critic.parameters(), self.max_grad_norm)
            self.optimizer.step()
            sums["value"] += value_loss.item()
            sums["surrogate"] += surrogate.item()
            sums["entropy"] += entropy.mean().item()
            sums["dagger_kl"] += dagger_kl.item()

        obs = self.storage.observations.flatten(0, 1)
        self.actor.update_normalization(obs)
        self.critic.update_normalization(obs)
        self.storage.clear()
        self.dagger_iter += 1
        n = self.num_learning_epochs * self.num_mini_batches
        out = {k: v / n for k, v in sums.items()}
        out["dagger_coef"] = coef
        return out

    def save(self) -> dict:
        d = super().save()
        d["dagger_iter"] = self.dagger_iter
        return d

    def load(self, loaded_dict: dict, load_cfg: dict | None, strict: bool) -> bool:
        r = super().load(loaded_dict, load_cfg, strict)
        self.dagger_iter = int(loaded_dict.get("dagger_iter", 0))
        return r
