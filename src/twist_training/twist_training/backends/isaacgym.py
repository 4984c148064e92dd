"""Isaac Gym adapter - UNTESTED.

Isaac Gym (NVIDIA's preview-4 wheel, Python <= 3.8, CUDA) cannot be installed in this workspace,
so this adapter has never been imported, let alone run. It maps the backend interface onto the
usual legged_gym pattern and is kept deliberately close to TWIST's own set-up (effort drive, PD
in torch each substep, torques clipped to 0.9 x effort, TGS solver, 4 position iterations).
Requirements when trying it: ``asset_file`` = a G1 URDF with the same 29 joint names
(``twist_controller.robot.G1_JOINT_NAMES``) and body names; Isaac quaternions are xyzw and are
converted to wxyz here.
"""

from __future__ import annotations

import numpy as np

from twist_controller import robot

from .base import BatchState, PhysicsParams


class IsaacGymBackend:  # pragma: no cover - untested, Isaac Gym unavailable
    def __init__(
        self, num_envs: int, sim_cfg, key_bodies, asset_file: str | None = None, device: str = "cuda:0"
    ):
        try:
            from isaacgym import gymapi, gymtorch
        except ImportError as exc:
            raise ImportError("the isaacgym backend needs NVIDIA Isaac Gym (not installable here)") from exc
        import torch

        if asset_file is None:
            raise ValueError("IsaacGymBackend needs asset_file= a G1 URDF with the 29 G1 joints")
        self.torch, self.gymapi, self.gymtorch = torch, gymapi, gymtorch
        self.num_envs, self.decimation, self.device = num_envs, sim_cfg.decimation, device
        self.policy_dt = sim_cfg.timestep * sim_cfg.decimation
        gym = self.gym = gymapi.acquire_gym()
        sp = gymapi.SimParams()
        sp.dt, sp.substeps, sp.up_axis = sim_cfg.timestep, 1, gymapi.UP_AXIS_Z
        sp.gravity = gymapi.Vec3(0.0, 0.0, -9.81)
        sp.physx.solver_type, sp.physx.num_position_iterations, sp.physx.num_velocity_iterations = 1, 4, 0
        sp.physx.contact_offset, sp.physx.rest_offset, sp.use_gpu_pipeline = 0.01, 0.0, True
        self.sim = gym.create_sim(0, 0, gymapi.SIM_PHYSX, sp)
        plane = gymapi.PlaneParams()
        plane.normal = gymapi.Vec3(0, 0, 1)
        gym.add_ground(self.sim, plane)
        opts = gymapi.AssetOptions()
        opts.default_dof_drive_mode = gymapi.DOF_MODE_EFFORT
        opts.collapse_fixed_joints = False
        import os

        asset = gym.load_asset(self.sim, os.path.dirname(asset_file), os.path.basename(asset_file), opts)
        names = [gym.get_asset_dof_name(asset, i) for i in range(gym.get_asset_dof_count(asset))]
        if tuple(names) != robot.G1_JOINT_NAMES:
            raise ValueError(f"asset joint order {names} differs from the G1 spec")
        bodies = [
            gym.get_asset_rigid_body_name(asset, i) for i in range(gym.get_asset_rigid_body_count(asset))
        ]
        self.key_ids = [bodies.index(b) for b in key_bodies]
        self.foot_ids = [bodies.index(b) for b in robot.FOOT_BODIES]
        self.hand_ids = [bodies.index(b) for b in robot.HAND_BODIES]
        self.torso_id = bodies.index(robot.TORSO_BODY)
        self.envs, self.actors = [], []
        pose = gymapi.Transform()
        pose.p = gymapi.Vec3(0.0, 0.0, 0.8)
        for i in range(num_envs):
            env = gym.create_env(
                self.sim, gymapi.Vec3(-1.5, -1.5, 0), gymapi.Vec3(1.5, 1.5, 3), int(num_envs**0.5)
            )
            self.actors.append(gym.create_actor(env, asset, pose, "g1", i, 0, 0))
            self.envs.append(env)
        gym.prepare_sim(self.sim)
        t = gymtorch.wrap_tensor
        self.root = t(
            gym.acquire_actor_root_state_tensor(self.sim)
        )  # (N, 13) pos, quat xyzw, lin, ang (world)
        self.dof = t(gym.acquire_dof_state_tensor(self.sim)).view(num_envs, -1, 2)
        self.rb = t(gym.acquire_rigid_body_state_tensor(self.sim)).view(num_envs, -1, 13)
        self.cf = t(gym.acquire_net_contact_force_tensor(self.sim)).view(num_envs, -1, 3)
        self.kp = torch.tensor(robot.KP, device=device).repeat(num_envs, 1)
        self.kd = torch.tensor(robot.KD, device=device).repeat(num_envs, 1)
        self.tau_lim = torch.tensor(robot.TORQUE_LIMIT * sim_cfg.torque_scale, device=device)
        self.targets = torch.tensor(robot.DEFAULT_POSITION, device=device).repeat(num_envs, 1)
        self.torques = torch.zeros(num_envs, robot.NUM_JOINTS, device=device)
        self.forces = torch.zeros(num_envs, len(bodies), 3, device=device)

    def _refresh(self):
        g = self.gym
        g.refresh_actor_root_state_tensor(self.sim)
        g.refresh_dof_state_tensor(self.sim)
        g.refresh_rigid_body_state_tensor(self.sim)
        g.refresh_net_contact_force_tensor(self.sim)

    def reset_envs(self, env_ids, qpos, qvel) -> None:
        torch = self.torch
        ids = torch.as_tensor(np.asarray(env_ids), device=self.device, dtype=torch.long)
        q = torch.as_tensor(qpos, device=self.device, dtype=torch.float32)
        v = torch.as_tensor(qvel, device=self.device, dtype=torch.float32)
        self.root[ids, 0:3] = q[:, 0:3]
        self.root[ids, 3:7] = q[:, [4, 5, 6, 3]]  # wxyz -> xyzw
        self.root[ids, 7:10] = v[:, 0:3]
        # MuJoCo's free-joint angular velocity is in the body frame; Isaac wants world frame
        from twist_controller.rotations import quat_rotate

        self.root[ids, 10:13] = torch.as_tensor(
            quat_rotate(qpos[:, 3:7], qvel[:, 3:6]), device=self.device
        ).float()
        self.dof[ids, :, 0], self.dof[ids, :, 1] = q[:, 7:], v[:, 6:]
        self.targets[ids] = q[:, 7:]
        idx32 = ids.to(torch.int32)
        gt = self.gymtorch.unwrap_tensor
        self.gym.set_actor_root_state_tensor_indexed(self.sim, gt(self.root), gt(idx32), len(idx32))
        self.gym.set_dof_state_tensor_indexed(self.sim, gt(self.dof.view(-1, 2)), gt(idx32), len(idx32))

    def set_params(self, env_ids, p: PhysicsParams) -> None:
        torch = self.torch
        for k, i in enumerate(np.asarray(env_ids)):
            env, actor = self.envs[i], self.actors[i]
            if p.friction is not None:
                props = self.gym.get_actor_rigid_shape_properties(env, actor)
                for s in props:
                    s.friction = float(p.friction[k])
                self.gym.set_actor_rigid_shape_properties(env, actor, props)
            if p.base_mass_delta is not None or p.base_com_delta is not None:
                props = self.gym.get_actor_rigid_body_properties(env, actor)
                if p.base_mass_delta is not None:
                    props[0].mass += float(p.base_mass_delta[k])
                if p.base_com_delta is not None:
                    c = p.base_com_delta[k]
                    props[0].com = self.gymapi.Vec3(
                        props[0].com.x + c[0], props[0].com.y + c[1], props[0].com.z + c[2]
                    )
                self.gym.set_actor_rigid_body_properties(env, actor, props, recomputeInertia=True)
        if p.kp_factor is not None:
            self.kp[torch.as_tensor(env_ids)] = torch.as_tensor(
                robot.KP * p.kp_factor, device=self.device
            ).float()
        if p.kd_factor is not None:
            self.kd[torch.as_tensor(env_ids)] = torch.as_tensor(
                robot.KD * p.kd_factor, device=self.device
            ).float()

    def set_root_velocity_xy(self, env_ids, vxy) -> None:
        self.root[np.asarray(env_ids), 7:9] = self.torch.as_tensor(vxy, device=self.device).float()
        self.gym.set_actor_root_state_tensor(self.sim, self.gymtorch.unwrap_tensor(self.root))

    def step(self, targets, hand_forces=None) -> None:
        torch, gt = self.torch, self.gymtorch.unwrap_tensor
        self.targets[:] = torch.as_tensor(targets, device=self.device).float()
        for s in range(self.decimation):
            tau = self.kp * (self.targets - self.dof[..., 0]) - self.kd * self.dof[..., 1]
            self.torques = torch.clamp(tau, -self.tau_lim, self.tau_lim)
            self.gym.set_dof_actuation_force_tensor(self.sim, gt(self.torques))
            if s == 0 and hand_forces is not None:
                self.forces.zero_()
                self.forces[:, self.hand_ids] = torch.as_tensor(hand_forces, device=self.device).float()
                self.gym.apply_rigid_body_force_tensors(
                    self.sim, gt(self.forces), None, self.gymapi.ENV_SPACE
                )
            self.gym.simulate(self.sim)
            self.gym.refresh_dof_state_tensor(self.sim)
        self._refresh()

    def state(self) -> BatchState:
        from twist_controller.rotations import quat_rotate_inverse

        r = self.root.cpu().numpy().astype(np.float64)
        quat = r[:, [6, 3, 4, 5]]
        qpos = np.concatenate([r[:, 0:3], quat, self.dof[..., 0].cpu().numpy()], axis=1)
        qvel = np.concatenate(
            [r[:, 7:10], quat_rotate_inverse(quat, r[:, 10:13]), self.dof[..., 1].cpu().numpy()], 1
        )
        rb = self.rb.cpu().numpy().astype(np.float64)
        cf = self.cf.cpu().numpy().astype(np.float64)
        return BatchState(
            qpos=qpos,
            qvel=qvel,
            key_body_pos=rb[:, self.key_ids, 0:3],
            foot_pos=rb[:, self.foot_ids, 0:3],
            foot_force=cf[:, self.foot_ids],
            torso_force=np.linalg.norm(cf[:, self.torso_id], axis=-1),
            joint_torque=self.torques.cpu().numpy().astype(np.float64),
        )
