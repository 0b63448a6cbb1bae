"""The napari reader opens saved runs lazily, in micrometres, through npe2 as napari does."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import dask.array as da
import h5py
import npe2
import numpy as np
import pytest

PLUGIN = "lightsheet"
VOLUMES_PER_CHUNK, CHUNKS = 2, 2
SHAPE = (VOLUMES_PER_CHUNK * CHUNKS, 3, 5, 6)  # (t, z, y, x)
PIXEL_UM, Z_STEP_UM = 0.65, 2.5
FRAMES_DTYPE = np.dtype([("frame_id", "<i8"), ("present", "?")])
METADATA = {
    "config": {
        "camera": {"pixel_size_um": 0.4},
        "scanning": {
            "mode": "volumetric",
            "z_start_um": 10.0,
            "z_end_um": -10.0,
            "n_planes": 5,
            "skip_planes_start": 1,
            "skip_planes_end": 1,
        },
    },
    "stop_reason": "completed",
    "volumes_saved": SHAPE[0],
    "frames_acquired": 12,
    "frames_dropped": 1,
}
MISSING_ROWS = (4,)


def expected_data() -> np.ndarray:
    return np.arange(np.prod(SHAPE), dtype=np.uint16).reshape(SHAPE) + 100


def write_run(run_dir: Path, *, attrs: bool = True) -> Path:
    """A run as the saver lays it out: chunk files, a virtual dataset.h5 with relative sources
    and metadata.json.
    """
    (run_dir / "chunks").mkdir(parents=True)
    data = expected_data()
    planes = SHAPE[1]
    frames = np.zeros(SHAPE[0] * planes, FRAMES_DTYPE)
    frames["frame_id"] = np.arange(len(frames))
    frames["present"] = True
    frames["present"][list(MISSING_ROWS)] = False
    run_attrs = {"pixel_size_um": PIXEL_UM, "z_step_um": Z_STEP_UM, "run": 7} if attrs else {}
    layout = h5py.VirtualLayout(SHAPE, np.uint16)
    frames_layout = h5py.VirtualLayout((len(frames),), FRAMES_DTYPE)
    for index in range(CHUNKS):
        name = f"chunks/chunk-{index:06d}.h5"
        volumes = slice(index * VOLUMES_PER_CHUNK, (index + 1) * VOLUMES_PER_CHUNK)
        rows = slice(volumes.start * planes, volumes.stop * planes)
        with h5py.File(run_dir / name, "w") as chunk:
            chunk.create_dataset("data", data=data[volumes], chunks=(1, 1, *SHAPE[2:]))
            chunk.create_dataset("frames", data=frames[rows])
            chunk.attrs.update(run_attrs)
        chunk_shape = (VOLUMES_PER_CHUNK, *SHAPE[1:])
        layout[volumes] = h5py.VirtualSource(name, "data", shape=chunk_shape, dtype=np.uint16)
        frames_layout[rows] = h5py.VirtualSource(
            name, "frames", shape=(rows.stop - rows.start,), dtype=FRAMES_DTYPE
        )
    with h5py.File(run_dir / "dataset.h5", "w") as index_file:
        index_file.create_virtual_dataset("data", layout, fillvalue=0)
        index_file.create_virtual_dataset("frames", frames_layout)
        index_file.attrs.update(run_attrs)
    (run_dir / "metadata.json").write_text(json.dumps(METADATA), encoding="utf-8")
    return run_dir


@pytest.fixture(scope="module")
def plugin_manager() -> npe2.PluginManager:
    manager = npe2.PluginManager.instance()
    manager.discover()
    return manager


def lightsheet_reader(manager: npe2.PluginManager, path: Path):
    """What napari gets from our reader contribution for ``path``: a callable or None."""
    readers = [
        reader
        for reader in manager.iter_compatible_readers([str(path)])
        if reader.plugin_name == PLUGIN
    ]
    assert len(readers) == 1, "the lightsheet reader should be offered for this kind of path"
    return readers[0].exec(
        kwargs={"path": [str(path)], "stack": False, "_registry": manager.commands}
    )


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """Work from another folder: relative virtual sources must resolve against dataset.h5."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_the_plugin_is_discovered_through_its_entry_point(plugin_manager):
    manifest = plugin_manager.get_manifest(PLUGIN)
    (reader,) = manifest.contributions.readers
    assert reader.accepts_directories
    assert "*.h5" in reader.filename_patterns


@pytest.mark.parametrize("target", ["folder", "dataset.h5"])
def test_a_run_opens_as_one_lazy_layer_in_micrometres(tmp_path, plugin_manager, elsewhere, target):
    run_dir = write_run(tmp_path / "run-0007")
    path = run_dir if target == "folder" else run_dir / "dataset.h5"

    (layer,) = npe2.read([str(path)], stack=False, plugin_name=PLUGIN)

    array, kwargs, layer_type = layer
    assert layer_type == "image"
    assert isinstance(array, da.Array)
    assert array.shape == SHAPE and array.dtype == np.uint16
    assert max(array.chunks[0]) == 1 and max(array.chunks[1]) == 1  # one plane per dask chunk
    gc.collect()  # the layer's array alone keeps the file open
    np.testing.assert_array_equal(array.compute(), expected_data())
    assert kwargs["name"] == "run-0007"
    assert kwargs["scale"] == pytest.approx((1.0, Z_STEP_UM, PIXEL_UM, PIXEL_UM))
    assert kwargs["rgb"] is False


def test_layer_metadata_reports_how_the_run_went(tmp_path, plugin_manager):
    run_dir = write_run(tmp_path / "run")

    (layer,) = npe2.read([str(run_dir)], stack=False, plugin_name=PLUGIN)

    metadata = layer[1]["metadata"]
    assert metadata["stop_reason"] == "completed"
    assert metadata["volumes"] == SHAPE[0]
    assert metadata["volumes_saved"] == SHAPE[0]
    assert metadata["frames_dropped"] == 1
    assert metadata["missing_frames"] == len(MISSING_ROWS)
    assert metadata["run_metadata"]["config"]["scanning"]["n_planes"] == 5


def test_contrast_limits_fall_within_the_data(tmp_path, plugin_manager):
    run_dir = write_run(tmp_path / "run")
    data = expected_data()

    (layer,) = npe2.read([str(run_dir)], stack=False, plugin_name=PLUGIN)

    low, high = layer[1]["contrast_limits"]
    assert data.min() <= low < high <= data.max()


def test_scale_falls_back_to_the_config_in_metadata(tmp_path, plugin_manager):
    run_dir = write_run(tmp_path / "run", attrs=False)

    (layer,) = npe2.read([str(run_dir)], stack=False, plugin_name=PLUGIN)

    # 5 planes from z = 10 um down to -10 um are 5 um apart; skipped planes keep that spacing.
    assert layer[1]["scale"] == pytest.approx((1.0, 5.0, 0.4, 0.4))


def test_unreadable_metadata_does_not_stop_the_data_from_opening(tmp_path, plugin_manager):
    run_dir = write_run(tmp_path / "run")
    (run_dir / "metadata.json").write_text("{", encoding="utf-8")

    (layer,) = npe2.read([str(run_dir)], stack=False, plugin_name=PLUGIN)

    assert layer[0].shape == SHAPE
    assert layer[1]["scale"] == pytest.approx((1.0, Z_STEP_UM, PIXEL_UM, PIXEL_UM))
    assert "stop_reason" not in layer[1]["metadata"]


def test_a_chunk_file_opens_on_its_own(tmp_path, plugin_manager, elsewhere):
    run_dir = write_run(tmp_path / "run")

    (layer,) = npe2.read(
        [str(run_dir / "chunks" / "chunk-000001.h5")], stack=False, plugin_name=PLUGIN
    )

    array, kwargs, _ = layer
    np.testing.assert_array_equal(array.compute(), expected_data()[VOLUMES_PER_CHUNK:])
    assert kwargs["name"] == "run chunk-000001"
    assert kwargs["scale"] == pytest.approx((1.0, Z_STEP_UM, PIXEL_UM, PIXEL_UM))


def other_h5(path: Path, **datasets: np.ndarray) -> Path:
    with h5py.File(path, "w") as h5_file:
        for name, value in datasets.items():
            h5_file.create_dataset(name, data=value)
    return path


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda tmp: tmp, id="folder without dataset.h5"),
        pytest.param(
            lambda tmp: other_h5(tmp / "stack.h5", data=np.zeros((2, 3, 4))), id="3-D /data"
        ),
        pytest.param(
            lambda tmp: other_h5(tmp / "labels.h5", labels=np.zeros((1, 2, 3, 4))),
            id="no /data",
        ),
        pytest.param(
            lambda tmp: other_h5(tmp / "empty.h5", data=np.zeros((0, 2, 3, 4), np.uint16)),
            id="no volume saved",
        ),
        pytest.param(
            lambda tmp: (tmp / "notes.h5").write_text("not HDF5") and tmp / "notes.h5",
            id="not an HDF5 file",
        ),
    ],
)
def test_paths_that_are_not_runs_are_left_to_other_readers(tmp_path, plugin_manager, make):
    path = make(tmp_path)

    assert lightsheet_reader(plugin_manager, path) is None


def test_a_napari_viewer_opens_a_run_with_its_scale(tmp_path, qapp):
    napari = pytest.importorskip("napari")
    run_dir = write_run(tmp_path / "run-0003")
    viewer = napari.Viewer(show=False)
    try:
        viewer.open(run_dir, plugin=PLUGIN)

        (layer,) = viewer.layers
        assert layer.name == "run-0003"
        assert tuple(layer.scale) == pytest.approx((1.0, Z_STEP_UM, PIXEL_UM, PIXEL_UM))
        assert layer.data.shape == SHAPE
        assert layer.metadata["stop_reason"] == "completed"
    finally:
        viewer.close()


def test_napari_opens_a_run_without_asking_which_reader(tmp_path, plugin_manager):
    """`napari RUN_DIR` reads with the preferred reader, else asks among all that match: napari's
    own matches every folder and .h5 file. The GUI records lightsheet as the preferred one."""
    import os

    from napari.components import ViewerModel
    from napari.errors import MultipleReaderError
    from napari.plugins import _initialize_plugins
    from napari.settings import get_settings

    from lightsheet.gui.napari_prefs import register_reader_preferences

    _initialize_plugins()
    settings = get_settings()
    assert str(settings.config_path) == os.environ["NAPARI_CONFIG"], "never the user's settings"
    run_dir = write_run(tmp_path / "runs" / "run-0007")
    elsewhere = write_run(tmp_path / "elsewhere" / "run-0008")
    before = dict(settings.plugins.extension2reader)
    settings.plugins.extension2reader = {}
    try:
        viewer = ViewerModel()
        with pytest.raises(MultipleReaderError):
            viewer.open(run_dir, plugin=None)
        added = register_reader_preferences([tmp_path / "runs"])
        assert len(added) == 2 and register_reader_preferences([tmp_path / "runs"]) == []
        (layer,) = viewer.open(run_dir, plugin=None)
        assert layer.data.shape == SHAPE and layer.name == "run-0007"
        assert viewer.dims.axis_labels == ("t", "z", "y", "x")
        (other,) = viewer.open(elsewhere / "dataset.h5", plugin=None)  # any run's dataset.h5
        assert other.name == "run-0008"
    finally:
        settings.plugins.extension2reader = before
