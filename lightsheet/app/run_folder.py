"""The output folder of a run: refuse to mix runs, and describe the run in metadata.json."""

from __future__ import annotations

import shutil
from pathlib import Path


class RunFolderError(Exception):
    """The output folder cannot take a new run; the message names the folder and why."""


def prepare_run_folder(path: str | Path, overwrite: bool) -> Path:
    """Create an empty run folder; an existing non-empty one is refused unless ``overwrite``."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise RunFolderError(
                f"{folder}: folder is not empty; choose another --out or pass --overwrite"
            )
        if not (folder / "metadata.json").exists():
            # --overwrite replaces an earlier run, never an arbitrary folder of someone's files.
            raise RunFolderError(
                f"{folder}: not empty and not a lightsheet run; refusing to overwrite it"
            )
        for child in folder.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    try:
        (folder / "chunks").mkdir(parents=True, exist_ok=True)
        (folder / "logs").mkdir(exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"{folder}: cannot create the run folder: {exc.strerror}") from None
    return folder
