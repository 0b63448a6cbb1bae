"""``napari RUN_DIR`` opens a run without asking which reader to use.

napari offers every reader whose patterns match, and its own reader matches every folder and
every ``.h5`` file, so a run would always start with "choose a reader". napari settles that with
its reader preferences (``plugins.extension2reader``, what "remember this choice" writes, also in
Preferences → Plugins). The GUI records there, once, that ``*/dataset.h5`` and the folders
inside the GUI's saving folder(s) open with lightsheet: nothing else of napari's changes, and
for a folder there that is not a run (ours declines it) napari offers its other readers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("lightsheet.gui")

PLUGIN = "lightsheet"
DATASET_PATTERN = f"*{os.sep}dataset.h5"


def run_folder_pattern(parent: Path) -> str:
    """The preference pattern of the folders inside ``parent`` (napari matches real paths)."""
    return f"{os.path.realpath(Path(parent).expanduser())}{os.sep}*{os.sep}"


def register_reader_preferences(parents: Iterable[Path]) -> list[str]:
    """Make lightsheet napari's reader for ``*/dataset.h5`` and the folders in ``parents``;
    returns the patterns added (none when they were there already or napari cannot be told)."""
    try:
        from napari.settings import get_settings

        plugins = get_settings().plugins
    except Exception as exc:  # settings unreadable: napari will ask, nothing else is lost
        log.warning("could not read napari's settings: %s", exc)
        return []
    wanted = [DATASET_PATTERN, *(run_folder_pattern(p) for p in parents)]
    current = dict(plugins.extension2reader)
    added = [pattern for pattern in wanted if current.get(pattern) != PLUGIN]
    if not added:
        return []
    current.update(dict.fromkeys(added, PLUGIN))
    try:
        plugins.extension2reader = current
    except Exception as exc:
        log.warning("could not record lightsheet as napari's reader of runs: %s", exc)
        return []
    log.info("napari opens these with lightsheet from now on: %s", ", ".join(added))
    return added
