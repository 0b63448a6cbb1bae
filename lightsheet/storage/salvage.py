"""What a writer that died mid-chunk leaves: every volume it had finished, not a lost chunk.

The chunk writer records, after each volume, how many volumes the open chunk holds and flushes
the file's metadata (``H5Fflush``: written to the file, no fsync), so a writer process that is
killed leaves a ``.partial`` file whose on-disk state is that of its last finished volume: the
volume being written when it died is beyond what the file's metadata describes. After the crash
such a file is checked (it opens, its data and per-plane table hold the volumes it says) and
published under its final name with exactly those volumes, so a saver crash loses at most the
volume it was writing (its pixels were written with ``O_DIRECT`` before the count, or sit in the
page cache, which outlives the process). A power cut is different: without the chunk's fsync
the page cache (the file's metadata at least) is gone, and the partial file stays partial
(``inspect`` says so).
"""

from __future__ import annotations

import logging
from pathlib import Path

import h5py

from lightsheet.storage.durable import PARTIAL_SUFFIX, publish
from lightsheet.storage.virtual import CHUNKS_DIR, DATA, FRAMES

VOLUMES_ATTR = "volumes"
_log = logging.getLogger(__name__)


def salvage_partial_chunks(run_dir: str | Path) -> int:
    """Publish each readable partial chunk with the volumes it finished; the volumes saved."""
    saved = 0
    for partial in sorted((Path(run_dir) / CHUNKS_DIR).glob(f"chunk-*.h5{PARTIAL_SUFFIX}")):
        volumes = _finished_volumes(partial)
        if not volumes:
            continue
        final = partial.with_name(partial.name.removesuffix(PARTIAL_SUFFIX))
        publish(partial, final)
        saved += volumes
        _log.warning("salvaged %s: the %d volume(s) it finished before its writer died",
                     final.name, volumes)  # fmt: skip
    return saved


def _finished_volumes(partial: Path) -> int:
    """How many whole volumes ``partial`` holds, 0 when it cannot be trusted or read."""
    try:
        with h5py.File(partial, "r+") as chunk:
            volumes = int(chunk.attrs.get(VOLUMES_ATTR, 0))
            data, frames = chunk[DATA], chunk[FRAMES]
            planes = data.shape[1]
            if volumes < 1 or data.shape[0] < volumes or frames.shape[0] < volumes * planes:
                return 0
            if data.shape[0] > volumes:  # a volume begun after the last flush: not whole
                data.resize(volumes, axis=0)
                frames.resize(volumes * planes, axis=0)
            data[volumes - 1]  # the last whole volume reads back
            return volumes
    except (OSError, KeyError, ValueError) as exc:
        _log.warning("%s cannot be salvaged: %s", partial.name, exc)
        return 0
