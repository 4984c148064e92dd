"""Malformed files for every motion importer and model loader.

Three kinds of damage per format: random bytes with the right extension, a valid file truncated
at a random byte, and a well-formed container whose arrays are replaced by fuzzed ones (wrong
shapes, NaN/inf, zero frames, strings, missing keys). The contract: a loader either returns
something usable (finite arrays of the right shape, a model whose step is finite) or raises its
documented error (importers: ``MotionDataError``/``ValueError``/``OSError``; policies:
``PolicyLoadError``, the only error policy_node catches besides ValueError; CMG models: any
``Exception`` (onnxruntime raises its own types), which ``cmg_node`` logs and survives).
Any other exception is a bug.
"""

from __future__ import annotations

import io
import math
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import strategies as st

from twist_controller import robot

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
N = robot.NUM_JOINTS
T = 6
SPECIAL = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, 1e30]


def _quat_wxyz(n=T):
    q = np.zeros((n, 4))
    q[:, 0] = 1.0
    return q


def _valid(fmt: str) -> tuple[str, dict | np.ndarray]:
    """(extension, content) of a small valid file of ``fmt``: standing still for T frames."""
    q = np.tile(robot.DEFAULT_POSITION, (T, 1))
    root = np.tile([0.0, 0.0, 0.78], (T, 1))
    B = 3
    bp = np.tile(root[:, None, :], (1, B, 1))
    bq = np.tile(_quat_wxyz()[:, None, :], (1, B, 1))
    xyzw = np.tile([0.0, 0.0, 0.0, 1.0], (T, 1))
    if fmt == "mjlab":
        return ".npz", dict(
            fps=np.array(50.0), joint_pos=q, joint_vel=np.zeros_like(q), body_pos_w=bp, body_quat_w=bq
        )
    if fmt == "amass_g1":
        return ".npz", dict(
            fps=np.array(30.0),
            dof_names=np.array(robot.G1_JOINT_NAMES),
            dof_positions=q,
            dof_velocities=np.zeros_like(q),
            body_positions=bp,
            body_rotations=bq,
        )
    if fmt == "twist_pkl":
        dof = (
            q[:, robot.POLICY_JOINT_INDICES]
            if hasattr(robot, "POLICY_JOINT_INDICES")
            else robot.full_to_policy(q)
        )
        return ".pkl", dict(
            fps=30, root_pos=root, root_rot=xyzw, dof_pos=dof, local_body_pos=np.zeros((T, B, 3))
        )
    if fmt == "gmr_pkl":
        return ".pkl", dict(fps=30, root_pos=root, root_rot=xyzw, dof_pos=q, link_body_list=["a", "b", "c"])
    if fmt == "g1_csv":
        return ".csv", np.concatenate([root, xyzw, q], axis=1)
    if fmt == "canonical":
        return ".npz", None
    raise KeyError(fmt)


def _write(path, fmt, content) -> None:
    if path.suffix == ".npz":
        np.savez(path, **content)
    elif path.suffix == ".pkl":
        path.write_bytes(pickle.dumps(content))
    else:
        buf = io.StringIO()
        np.savetxt(buf, content, delimiter=",")
        path.write_text(buf.getvalue())


def _canonical(path):
    from twist_training.data.clip import MotionClip

    q = np.tile(robot.DEFAULT_POSITION, (T, 1))
    clip = MotionClip.from_positions(50.0, q, np.tile([0.0, 0.0, 0.78], (T, 1)), _quat_wxyz(), name="stand")
    clip.save(path)


def _check_clip(clip) -> None:
    assert clip.joint_pos.ndim == 2 and clip.joint_pos.shape[1] == N and len(clip.joint_pos) >= 1
    for a in (
        clip.joint_pos,
        clip.joint_vel,
        clip.root_pos,
        clip.root_quat,
        clip.root_lin_vel,
        clip.root_ang_vel,
    ):
        assert np.all(np.isfinite(a))
    assert math.isfinite(clip.fps) and clip.fps > 0


IMPORT_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile)  # MotionDataError is a ValueError

fuzzed_array = st.one_of(
    st.sampled_from(
        [
            np.zeros((0, N)),
            np.zeros((T, N - 1)),
            np.zeros((T,)),
            np.zeros(()),
            np.array("abc"),
            np.full((T, N), np.nan),
            np.full((T, 4), np.inf),
            np.zeros((T, 3, 2)),
            np.zeros((1, 1, 1, 1)),
        ]
    ),
    st.tuples(st.integers(0, 8), st.integers(0, 40), st.sampled_from(SPECIAL)).map(
        lambda t: np.full((t[0], t[1]), t[2]) if t[1] else np.full((t[0],), t[2])
    ),
    st.sampled_from(SPECIAL).map(np.array),
)

FORMATS = ["mjlab", "amass_g1", "twist_pkl", "gmr_pkl", "g1_csv", "canonical"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_fuzz_motion_importers(fuzz, fmt, tmp_path):
    from twist_training.data.importers import load_motion

    ext, valid = _valid(fmt)
    ref = tmp_path / f"valid{ext}"
    if fmt == "canonical":
        _canonical(ref)
        with np.load(ref) as z:
            valid = {k: z[k] for k in z.files}
    else:
        _write(ref, fmt, valid)
    _check_clip(load_motion(ref, fmt))  # the valid file loads: damage is what makes it fail
    good = ref.read_bytes()
    path = tmp_path / f"fuzzed{ext}"

    def check(t):
        kind, data, cut, key, arr, drop = t
        if kind == "bytes":
            path.write_bytes(data)
        elif kind == "truncate":
            path.write_bytes(good[: cut % max(1, len(good))])
        elif fmt == "g1_csv":
            a = np.asarray(valid, float).copy()
            a.flat[cut % a.size] = float(arr.flat[0]) if arr.size and arr.dtype.kind == "f" else math.nan
            _write(path, fmt, a if not drop else a[:, : cut % 36])
        else:
            d = dict(valid)
            k = sorted(d)[key % len(d)]
            if drop:
                del d[k]
            else:
                d[k] = arr
            _write(path, fmt, d)
        try:
            clip = load_motion(path, fmt)
        except IMPORT_ERRORS:
            return
        _check_clip(clip)

    fuzz(
        st.tuples(
            st.sampled_from(["bytes", "truncate", "arrays", "arrays"]),
            st.binary(max_size=300),
            st.integers(0, 10**6),
            st.integers(0, 20),
            fuzzed_array,
            st.booleans(),
        ),
        check,
        budget=min(fuzz.budget, 3000 if fuzz.budget > 100 else 12),
    )


# ------------------------------------------------------------------------------------------- policy
def damaged(exts):
    kinds = st.sampled_from(["bytes", "truncate"])
    return st.tuples(kinds, st.binary(max_size=200), st.integers(0, 10**7), st.sampled_from(exts))


@pytest.fixture(scope="module")
def policy_bytes(tmp_path_factory):
    import torch

    from twist_controller.policy import export_policy

    torch.manual_seed(0)
    p = export_policy(torch.nn.Linear(1155, 23), tmp_path_factory.mktemp("pol") / "p.pt")
    return p.read_bytes()


def test_fuzz_policy_files(fuzz, policy_bytes, tmp_path):
    from twist_controller.policy import PolicyLoadError, load_policy

    def check(t):
        kind, data, cut, ext = t
        path = tmp_path / f"policy{ext}"
        path.write_bytes(data if kind == "bytes" else policy_bytes[: cut % len(policy_bytes)])
        try:
            pol = load_policy(path)
        except PolicyLoadError:
            return
        out = pol.act(np.zeros((1, pol.observation_size)))
        assert out.shape == (1, 23)

    fuzz(
        damaged([".pt", ".onnx"]),
        check,
        budget=min(fuzz.budget, 2000 if fuzz.budget > 100 else 12),
    )


def test_fuzz_policy_metadata(fuzz, monkeypatch, tmp_path):
    """Whatever JSON (or not) sits in the metadata slot: PolicyLoadError or a spec-checked policy."""
    from twist_controller import policy as P

    text = {"value": ""}
    monkeypatch.setattr(
        P, "_load_torchscript", lambda path: (lambda obs: np.zeros((len(obs), 23)), text["value"])
    )
    path = tmp_path / "p.pt"
    path.write_bytes(b"x")
    good = P.PolicyMetadata().to_json()
    json_values = st.recursive(
        st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=10,
    )
    import json

    def mutate(t):
        kind, v, key = t
        if kind == "raw":
            return v if isinstance(v, str) else json.dumps(v)
        d = json.loads(good)
        k = sorted(d)[key % len(d)]
        d[k] = v
        return json.dumps(d)

    def check(meta_text):
        text["value"] = meta_text
        try:
            pol = P.load_policy(path)
        except P.PolicyLoadError:
            return
        assert not P.check_metadata(pol.metadata)

    fuzz(
        st.tuples(st.sampled_from(["raw", "field", "field"]), json_values, st.integers(0, 50)).map(mutate),
        check,
    )


# ------------------------------------------------------------------------------------------ CMG model
@pytest.fixture(scope="module")
def cmg_bytes(tmp_path_factory):
    import torch

    from cmg_generator.artifact import NormStats, make_metadata, save_artifact
    from cmg_generator.model import CMG, CMGConfig

    torch.manual_seed(0)
    cfg = CMGConfig(hidden_dim=8, gate_hidden_dim=8, num_experts=2, num_layers=2)
    rng = np.random.default_rng(0)
    s = NormStats.compute(rng.normal(size=(50, cfg.state_dim)), rng.normal(size=(50, 3)))
    standing = np.zeros(cfg.state_dim)
    standing[:N] = robot.DEFAULT_POSITION
    p = save_artifact(tmp_path_factory.mktemp("cmg") / "m.pt", CMG(cfg), s, make_metadata(s, standing))
    return p.read_bytes()


CMG_ERRORS = Exception  # cmg_node catches any Exception from the loader, logs it and stays up


def test_fuzz_cmg_model_files(fuzz, cmg_bytes, tmp_path):
    from cmg_generator.runtime import CMGGenerator

    def check(t):
        kind, data, cut, ext = t
        path = tmp_path / f"cmg{ext}"
        path.write_bytes(data if kind == "bytes" else cmg_bytes[: cut % len(cmg_bytes)])
        try:
            gen = CMGGenerator.load(path)
        except CMG_ERRORS:
            return  # cmg_node logs "cannot load CMG model" and stays up (test_fault_injection)
        m = gen.step((0.5, 0.0, 0.0))
        assert np.all(np.isfinite(m.frames[0].joint_positions))

    fuzz(
        damaged([".pt", ".onnx", ".ts"]),
        check,
        budget=min(fuzz.budget, 2000 if fuzz.budget > 100 else 12),
    )
