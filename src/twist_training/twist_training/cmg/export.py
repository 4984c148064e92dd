"""Export a CMG artifact to TorchScript and ONNX, each carrying its stats and metadata.

Both exports compute the normalized step (the upstream ONNX contract): inputs ``prev_motion``
(B, D) normalized state and ``command`` (B, 3) normalized command, output ``motion`` (B, D)
normalized next state; the batch axis is dynamic. Stats + metadata travel as JSON:
TorchScript ``_extra_files["cmg_meta.json"]``, ONNX ``metadata_props["cmg_meta"]``.
:func:`cmg_generator.runtime.load_model` reads both.

    python -m twist_training.cmg.export runs/cmg_.../cmg_best.pt --out exported/
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from cmg_generator.artifact import load_artifact
from cmg_generator.runtime import META_KEY


def _meta_json(art) -> str:
    return json.dumps(
        {
            "stats": art.stats.to_dict(),
            "metadata": art.metadata,
            "model_config": art.model.config.to_dict(),
            "inputs": {"prev_motion": "normalized state (B, D)", "command": "normalized command (B, 3)"},
            "outputs": {"motion": "normalized next state (B, D)"},
        }
    )


def export_torchscript(artifact_path: str | Path, out_path: str | Path) -> Path:
    art = load_artifact(artifact_path)
    scripted = torch.jit.script(art.model.eval())
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(scripted, str(out_path), _extra_files={f"{META_KEY}.json": _meta_json(art)})
    return out_path


def export_onnx(
    artifact_path: str | Path, out_path: str | Path, opset: int = 17, dynamic_batch: bool = True
) -> Path:
    import onnx

    art = load_artifact(artifact_path)
    model = art.model.eval()
    d = model.state_dim
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    args = (torch.zeros(1, d), torch.zeros(1, model.command_dim))
    axes = (
        {"prev_motion": {0: "batch"}, "command": {0: "batch"}, "motion": {0: "batch"}}
        if dynamic_batch
        else None
    )
    torch.onnx.export(
        model,
        args,
        str(out_path),
        input_names=["prev_motion", "command"],
        output_names=["motion"],
        dynamic_axes=axes,
        opset_version=opset,
        dynamo=False,
    )
    m = onnx.load(str(out_path))
    p = m.metadata_props.add()
    p.key, p.value = META_KEY, _meta_json(art)
    onnx.save(m, str(out_path))
    return out_path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="export_cmg", description="Export a CMG artifact to TorchScript + ONNX.")
    p.add_argument("artifact")
    p.add_argument("--out", default=None, help="output directory (default: next to the artifact)")
    p.add_argument("--name", default=None, help="file stem (default: artifact stem)")
    args = p.parse_args(argv)
    src = Path(args.artifact)
    out = Path(args.out) if args.out else src.parent
    stem = args.name or src.stem
    ts = export_torchscript(src, out / f"{stem}.ts")
    ox = export_onnx(src, out / f"{stem}.onnx")
    print(f"wrote {ts} and {ox}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
