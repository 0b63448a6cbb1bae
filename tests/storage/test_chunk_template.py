"""A chunk file made from the run's template is the file HDF5 would have made object by object.

The reader's side of ``chunk_template.py``'s promise: the same attributes, datasets with the same
creation properties, the same waveforms; planes written into it land where HDF5 says, aligned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
import pytest

from lightsheet.storage.chunk_content import create_datasets, run_attrs, write_tree
from lightsheet.storage.chunk_template import ChunkTemplate
from lightsheet.storage.direct_planes import (
    ALIGN,
    aligned_file_options,
    preallocated_dataset_options,
)
from lightsheet.storage.virtual import DATA, FRAMES, WAVEFORMS

SHAPE = (3, 64, 96)
WAVEFORMS_TREE: dict[str, Any] = {
    "mode": "volumetric",
    "sample_rate_hz": 100000.0,
    "channels": {"galvo": np.linspace(-1, 1, 500), "piezo": np.arange(500.0)},
    "channel_map": {"galvo": "Dev1/ao0", "piezo": "Dev1/ao1"},
    "plane_index": np.arange(3),
}


def _attrs(compression: str) -> dict[str, Any]:
    return run_attrs({"rig": "test", "z_step_um": 2.5}, SHAPE, np.dtype("u2"), 4,
                     compression, 5)  # fmt: skip


def _made_object_by_object(path: Path, options: dict[str, Any], file_options: dict[str, Any],
                           attrs: dict[str, Any]) -> None:  # fmt: skip
    with h5py.File(path, "w", **file_options) as chunk:
        chunk.attrs.update(attrs)
        chunk.attrs["chunk_index"] = 7
        chunk.attrs["first_volume"] = 28
        create_datasets(chunk, SHAPE, np.dtype("u2"), 4, options)
        write_tree(chunk.create_group(WAVEFORMS), WAVEFORMS_TREE)


def _described(path: Path) -> dict[str, Any]:
    """Everything a reader can see of a chunk file, creation properties included."""
    seen: dict[str, Any] = {}

    def visit(name: str, obj: Any) -> None:
        attrs = {k: np.asarray(v).tolist() for k, v in obj.attrs.items()}
        if isinstance(obj, h5py.Dataset):
            dcpl = obj.id.get_create_plist()
            filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
            seen[name] = (obj.shape, obj.maxshape, obj.dtype.str, obj.chunks, obj.fillvalue,
                          dcpl.get_alloc_time(), dcpl.get_fill_time(), filters,
                          np.asarray(obj[()]).tolist(), attrs)  # fmt: skip
        else:
            seen[name] = attrs

    with h5py.File(path, "r") as chunk:
        seen["/"] = {k: np.asarray(v).tolist() for k, v in chunk.attrs.items()}
        chunk.visititems(visit)
    return seen


@pytest.mark.parametrize("compression", ["none", "blosc-lz4"])
def test_template_chunk_reads_as_one_made_object_by_object(
    tmp_path: Path, compression: str
) -> None:
    if compression == "none":
        options, file_options = preallocated_dataset_options(), aligned_file_options()
    else:
        options, file_options = dict(hdf5plugin.Blosc2(cname="lz4")), {}
    attrs = _attrs(compression)
    _made_object_by_object(tmp_path / "by-object.h5", options, file_options, attrs)
    template = ChunkTemplate(attrs, SHAPE, np.dtype("u2"), 4, options, file_options,
                             WAVEFORMS_TREE)  # fmt: skip
    chunk, _data, _frames = template.create(tmp_path / "templated.h5", 7, 28)
    chunk.close()
    assert _described(tmp_path / "templated.h5") == _described(tmp_path / "by-object.h5")


def test_each_chunk_is_its_own_file_and_planes_land_aligned(tmp_path: Path) -> None:
    template = ChunkTemplate(_attrs("none"), SHAPE, np.dtype("u2"), 4,
                             preallocated_dataset_options(), aligned_file_options(),
                             None)  # fmt: skip
    volumes = [np.full(SHAPE, k + 1, np.uint16) for k in range(2)]
    for index, volume in enumerate(volumes):
        chunk, data, _frames = template.create(tmp_path / f"c{index}.h5", index, index * 4)
        with chunk:
            data.resize(1, axis=0)
            data[0] = volume
            offset = data.id.get_chunk_info_by_coord((0, 1, 0, 0)).byte_offset
            assert offset % ALIGN == 0  # the file's alignment was given again when opened
    for index, volume in enumerate(volumes):
        with h5py.File(tmp_path / f"c{index}.h5", "r") as chunk:
            assert chunk.attrs["chunk_index"] == index
            assert chunk.attrs["first_volume"] == index * 4
            assert WAVEFORMS not in chunk
            np.testing.assert_array_equal(chunk[DATA][0], volume)
            assert chunk[FRAMES].shape == (0,)


def test_a_waveform_hdf5_cannot_name_is_refused_when_the_template_is_made(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot name an HDF5 object"):
        ChunkTemplate(_attrs("none"), SHAPE, np.dtype("u2"), 4, preallocated_dataset_options(),
                      aligned_file_options(), {"a/b": np.arange(3)})  # fmt: skip
