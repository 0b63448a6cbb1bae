"""metadata.json: strict JSON of what the caller gives, replaced atomically."""

from __future__ import annotations

import datetime as dt
import enum
import json
from pathlib import Path

import numpy as np
import pytest

from lightsheet.storage import (
    durable,
    json_safe,
    now_iso,
    read_metadata,
    software_versions,
    write_metadata,
)


class Mode(enum.Enum):
    VOLUMETRIC = "volumetric"


def test_round_trips_and_converts_numpy_paths_and_times(tmp_path):
    start = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc)
    write_metadata(
        tmp_path,
        {
            "stop_reason": "completed",
            "frames_acquired": np.int64(400),
            "frames_dropped": np.uint32(2),
            "exposure_s": np.float32(0.25),
            "piezo_um": np.array([0.0, 1.5]),
            "nan_ts": np.float64("nan"),
            "out": Path("/data/run"),
            "start_time": start,
            "mode": Mode.VOLUMETRIC,
            "flags": (True, np.bool_(False)),
            "config": {"camera": {"roi": (2048, 2048)}},
        },
    )
    assert read_metadata(tmp_path) == {
        "stop_reason": "completed",
        "frames_acquired": 400,
        "frames_dropped": 2,
        "exposure_s": 0.25,
        "piezo_um": [0.0, 1.5],
        "nan_ts": None,
        "out": "/data/run",
        "start_time": "2024-05-01T12:30:00+00:00",
        "mode": "volumetric",
        "flags": [True, False],
        "config": {"camera": {"roi": [2048, 2048]}},
    }
    text = (tmp_path / "metadata.json").read_text()
    assert "\n  " in text  # pretty-printed for people who open it
    json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON {name}"))


def test_unsupported_values_name_their_place_and_leave_the_file_alone(tmp_path):
    write_metadata(tmp_path, {"stop_reason": "running"})
    with pytest.raises(TypeError, match=r"\$\.trigger\.port"):
        write_metadata(tmp_path, {"stop_reason": "completed", "trigger": {"port": object()}})
    assert read_metadata(tmp_path) == {"stop_reason": "running"}


def test_a_crash_before_the_rename_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    write_metadata(tmp_path, {"stop_reason": "running", "frames_acquired": 0})

    def crash(src, dst):
        raise OSError("killed before the rename")

    monkeypatch.setattr(durable.os, "replace", crash)
    with pytest.raises(OSError, match="killed"):
        write_metadata(tmp_path, {"stop_reason": "completed", "frames_acquired": 10})
    monkeypatch.undo()
    assert read_metadata(tmp_path) == {"stop_reason": "running", "frames_acquired": 0}

    write_metadata(tmp_path, {"stop_reason": "completed", "frames_acquired": 10})
    assert read_metadata(tmp_path)["stop_reason"] == "completed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.json"]


def test_read_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_metadata(tmp_path)
    (tmp_path / "metadata.json").write_text("{truncated")
    with pytest.raises(ValueError, match=r"metadata\.json"):
        read_metadata(tmp_path)
    (tmp_path / "metadata.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="object"):
        read_metadata(tmp_path)


def test_software_versions_name_the_stack():
    import h5py

    versions = software_versions()
    for name in ("lightsheet", "python", "numpy", "h5py", "hdf5", "hdf5plugin", "pydantic"):
        assert isinstance(versions[name], str) and versions[name]
    assert versions["hdf5"] == h5py.version.hdf5_version
    assert versions["numpy"] == np.__version__


def test_now_iso_carries_the_utc_offset():
    assert dt.datetime.fromisoformat(now_iso()).utcoffset() is not None


def test_json_safe_sorts_sets_for_stable_files():
    assert json_safe({"lines": {"b", "a"}}) == {"lines": ["a", "b"]}
