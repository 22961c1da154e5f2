"""Trained models saved as sentence-transformers folders, written whole or not at all.

A sweep saves the model of each run (when asked) and pre-training saves each pretrained
start; both must survive a crash mid-save, and both are refused on load when incomplete.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer

from drscale.common.files import plain_permissions, publish, recover, staging_folder
from drscale.model.encoder import quiet_loading


CHECKPOINT_MANIFEST = "drscale_checkpoint.json"
"""Written last into a checkpoint: every file of the save with its size, so a folder that
lost a file (or was copied half-way) is recognised as incomplete."""


def save_checkpoint(model: torch.nn.Module, folder: Path) -> Path:
    """Save `model` to `folder` atomically: written under a temporary name, then renamed.

    A crash mid-save leaves only a `.tmp-*` folder, never a half-written `folder`, so
    anything found under a run id is complete and loads with `SentenceTransformer(folder)`;
    `load_checkpoint` checks the manifest before loading.
    """
    staging = staging_folder(folder)
    try:
        with quiet_loading():
            model.save(str(staging))
        files = {str(p.relative_to(staging)): p.stat().st_size for p in sorted(staging.rglob("*")) if p.is_file()}
        (staging / CHECKPOINT_MANIFEST).write_text(json.dumps({"files": files}, indent=1) + "\n")
        plain_permissions(staging)
        publish(staging, folder)  # an earlier, complete save of the same run is replaced whole
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return folder


def checkpoint_problem(folder: str | Path) -> str | None:
    """Why `folder` is not a complete drscale checkpoint, or None when it is."""
    folder = Path(folder)
    if folder.name.startswith(".tmp-"):
        return "a staging folder left by a save that never finished"
    if not folder.is_dir():
        return "no such folder"
    manifest = folder / CHECKPOINT_MANIFEST
    if not manifest.is_file():
        return f"no {CHECKPOINT_MANIFEST} (the save did not finish, or the folder was not written by drscale)"
    try:
        files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError) as exc:
        return f"an unreadable {CHECKPOINT_MANIFEST} ({exc})"
    for name, size in files.items():
        path = folder / name
        if not path.is_file():
            return f"missing {name}"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes of {size}"
    return None


def load_checkpoint(checkpoint_dir: str | Path, run_id: str | None = None, device: str = "cpu") -> SentenceTransformer:
    """The model a sweep saved for `run_id` under `checkpoint_dir` (or, without `run_id`, the
    checkpoint folder `checkpoint_dir` itself), refusing any folder that is not complete."""
    folder = Path(checkpoint_dir) / run_id if run_id is not None else Path(checkpoint_dir)
    recover(folder)
    problem = checkpoint_problem(folder)
    if problem is not None:
        raise ValueError(f"{folder}: not a complete checkpoint: {problem}; expected a folder written whole by save_checkpoint")
    with quiet_loading():
        return SentenceTransformer(str(folder), device=device, local_files_only=True)
