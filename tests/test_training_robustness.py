"""kill -9 during training, then resume (train_cmg and train_teacher as real processes).

Each run is killed at a random moment after it has written at least one new checkpoint (several
rounds; the CMG run uses the seed-size network so a checkpoint write takes long enough to be hit).
After every kill every checkpoint on disk must load completely (checkpoints are written to a
temporary file and renamed), and the resumed run must continue from the newest one: epoch /
iteration numbering continues, the optimizer state carries on (Adam's step count keeps growing
instead of restarting) and so do the observation normalizers (teacher).

Slow: about 2 minutes on 2 cores.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
TRAIN_CMG = REPO / "install" / "lib" / "twist_training" / "train_cmg"
TRAIN_TEACHER = REPO / "install" / "lib" / "twist_training" / "train_teacher"
pytestmark = pytest.mark.slow


def _num(p: Path) -> int:
    return int(re.findall(r"\d+", p.stem)[-1])


def _ckpts(run: Path, pattern: str) -> list[Path]:
    return sorted(run.glob(pattern), key=_num)


def _adam_step(opt_state: dict) -> float:
    steps = [float(s["step"]) for s in opt_state["state"].values() if "step" in s]
    assert steps, "optimizer state without Adam step counts"
    return max(steps)


def _kill_rounds(start, run: Path, pattern: str, rounds: int, log: Path, check, seed: int = 0) -> list[dict]:
    """Start (or resume), let it write a new checkpoint, kill -9 at a random moment, verify."""
    rng = random.Random(seed)
    kills = []
    for r in range(rounds):
        before = _ckpts(run, pattern)
        n_before = _num(before[-1]) if before else -1
        with open(log, "a") as f:
            p = start(before[-1] if before else None, f)
            try:
                deadline = time.monotonic() + 180
                while time.monotonic() < deadline and p.poll() is None:
                    cks = _ckpts(run, pattern)
                    if cks and _num(cks[-1]) > n_before:
                        break
                    time.sleep(0.05)
                assert p.poll() is None, f"trainer exited early:\n{log.read_text()[-3000:]}"
                time.sleep(rng.uniform(0.0, 1.5))
                p.send_signal(signal.SIGKILL)
            finally:
                if p.poll() is None:
                    p.kill()
                p.wait(30)
        cks = _ckpts(run, pattern)
        for c in cks:  # every checkpoint that exists is whole
            check(torch.load(c, map_location="cpu", weights_only=False), c)
        kills.append({"round": r, "latest": cks[-1].name, "checkpoints": len(cks)})
    return kills


# ------------------------------------------------------------------------------------------ CMG
def _resume_until(start, checkpoint: Path, target: Path, log: Path, timeout: float = 180.0) -> None:
    """Resume from ``checkpoint`` and run until ``target`` exists (or the run ends), then kill it."""
    with open(log, "a") as f:
        p = start(checkpoint, f)
        try:
            deadline = time.monotonic() + timeout
            while not target.exists() and time.monotonic() < deadline and p.poll() is None:
                time.sleep(0.1)
        finally:
            p.kill()
            p.wait(30)


def test_train_cmg_kill9_and_resume(tmp_path):
    out = tmp_path / "cmg"
    log = tmp_path / "train_cmg.log"
    common = [
        "--procedural-minutes", "0.2", "--cache-dir", str(tmp_path / "cache"),
        "--epochs", "100000", "--batch-size", "16", "--samples-per-epoch", "64", "--ckpt-every", "1",
        "--num-threads", "1", "--tensorboard", "false", "--out-dir", str(out), "--run-name", "r",
    ]  # fmt: skip

    def start(resume, f):
        cmd = [str(TRAIN_CMG), *common] + (["--resume", str(resume)] if resume else [])
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=tmp_path)

    def check(ck, path):
        for key in ("epoch", "optimizer", "scheduler", "state_dict", "stats", "teacher_prob", "history"):
            assert key in ck, f"{path.name}: no {key}"
        assert ck["epoch"] == _num(path)

    run = out / "r"
    _kill_rounds(start, run, "cmg_ckpt_*.pt", 3, log, check)
    last = _ckpts(run, "cmg_ckpt_*.pt")[-1]
    ck_last = torch.load(last, map_location="cpu", weights_only=False)
    _resume_until(start, last, run / f"cmg_ckpt_{_num(last) + 2}.pt", log)  # one more checkpoint
    text = log.read_text()
    assert f"resumed from {last}" in text and f"at epoch {_num(last) + 1}" in text, text[-2000:]
    nxt = torch.load(run / f"cmg_ckpt_{_num(last) + 1}.pt", map_location="cpu", weights_only=False)
    per_epoch = _adam_step(ck_last["optimizer"]) / ck_last["epoch"]
    assert _adam_step(nxt["optimizer"]) == pytest.approx(_adam_step(ck_last["optimizer"]) + per_epoch), (
        "the optimizer restarted instead of continuing"
    )
    assert len(nxt["history"]) == len(ck_last["history"]) + 1


# ------------------------------------------------------------------------------------------ teacher
def test_train_teacher_kill9_and_resume(tmp_path):
    run = tmp_path / "teacher"
    log = tmp_path / "train_teacher.log"
    base = [
        str(TRAIN_TEACHER), "--num-envs", "2", "--iterations", "100000", "--run-dir", str(run),
        "--threads", "1",
        "--set", "save_interval=1", "--set", "num_steps_per_env=8", "--set", "task.motions.sources=[stand]",
    ]  # fmt: skip

    def start(resume, f):
        cmd = base + (["--resume", "auto"] if resume else [])
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=tmp_path)

    def check(ck, path):
        for key in ("actor_state_dict", "critic_state_dict", "optimizer_state_dict", "iter"):
            assert key in ck, f"{path.name}: no {key}"
        assert ck["iter"] == _num(path)

    _kill_rounds(start, run, "model_*.pt", 3, log, check, seed=1)
    cks = _ckpts(run, "model_*.pt")
    last = cks[-1]
    ck_last = torch.load(last, map_location="cpu", weights_only=False)
    ck_first = torch.load(cks[0], map_location="cpu", weights_only=False)
    _resume_until(start, last, run / f"model_{_num(last) + 2}.pt", log)
    text = log.read_text()
    assert f"resumed from {last} at iteration {_num(last) + 1}" in text, text[-2000:]
    nxt = torch.load(run / f"model_{_num(last) + 1}.pt", map_location="cpu", weights_only=False)
    per_it = _adam_step(ck_first["optimizer_state_dict"]) / (ck_first["iter"] + 1)
    assert _adam_step(nxt["optimizer_state_dict"]) == pytest.approx(
        _adam_step(ck_last["optimizer_state_dict"]) + per_it
    ), "the optimizer restarted instead of continuing"
    counts = [k for k in nxt["actor_state_dict"] if k.endswith("count")]
    assert counts, f"no normalizer count in {list(nxt['actor_state_dict'])[:10]}"
    for k in counts:  # normalizer statistics continue from the checkpoint
        assert float(nxt["actor_state_dict"][k]) > float(ck_last["actor_state_dict"][k]) > 0
