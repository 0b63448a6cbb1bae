"""``lightsheet acquire`` with a live processor: results saved beside the raw data, the example
processor loaded from its file by the example config, bad processor options refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from lightsheet.config import load_config
from tests.cli.cli_helpers import assert_one_line_error, lightsheet, write_config
from tests.pipeline.rigs import small_rig

REPOSITORY = Path(__file__).resolve().parents[2]


def test_acquire_saves_the_max_projection_of_every_volume(tmp_path: Path) -> None:
    # 20 frames/s, not 500: the processor runs at nice 10 and, on a machine busy with other
    # tests, rightly skips frames the camera outpaces it with (then fewer than 6 results).
    config = write_config(small_rig(5, exposure_ms=50.0), tmp_path / "rig.yaml")
    result = lightsheet("acquire", "--config", str(config), "--volumes", "6", "--out",
                        str(tmp_path / "run"), "--processor", "max-projection",
                        "--save-processed", "--quiet")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "/processed/max-projection: 6 result(s)" in result.stdout
    with h5py.File(tmp_path / "run" / "dataset.h5", "r") as run:
        projections = run["processed/max-projection"]
        index = run["processed/max-projection_results"][:]
        table = run["processed/max-projection_frames"][:]
        assert projections.shape == (6, 64, 64) and projections.dtype == np.uint16
        for row, entry in enumerate(index):
            volume = int(entry["volume"])
            planes = table[table["volume"] == volume]
            processed = planes["plane"][planes["present"]]
            assert entry["frames"] == len(processed) > 0
            expected = run["data"][volume][processed].max(axis=0)
            np.testing.assert_array_equal(projections[row], expected)
    metadata = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert metadata["processing"]["processor"] == "max-projection"
    assert metadata["processing"]["saved"]["max-projection"]["results"] == 6


def test_the_example_config_runs_the_example_processor_from_its_file(tmp_path: Path) -> None:
    example = load_config(REPOSITORY / "examples" / "edge_processing.yaml").processing
    assert example.name == "examples/edge_processor.py:EdgeMagnitude" and example.save
    path = REPOSITORY / "examples" / "edge_processor.py"  # found from any working folder
    processing = {**example.model_dump(), "name": f"{path}:EdgeMagnitude"}
    small = small_rig(5).updated(processing=processing)
    config = write_config(small, tmp_path / "edges.yaml")
    result = lightsheet("acquire", "--config", str(config), "--volumes", "3", "--out",
                        str(tmp_path / "run"), "--processor-option", "threshold=0",
                        "--quiet")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "/processed/edges:" in result.stdout
    with h5py.File(tmp_path / "run" / "dataset.h5", "r") as run:
        edges, index = run["processed/edges"], run["processed/edges_results"][:]
        first = int(index["frame_id"][0])
        raw = run["data"][first // 5, first % 5].astype(np.float32)
        dy, dx = np.gradient(raw)
        np.testing.assert_allclose(edges[0], np.hypot(dy, dx), rtol=1e-6)
    log = (tmp_path / "run" / "logs" / "processor.log").read_text()
    assert "EdgeMagnitude" in log and "Traceback" not in log


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--processor", "sharpen"], "'sharpen' is not a built-in processor"),
        (["--processor", "mean", "--processor-option", "size=3"], "no setting 'size'"),
        (["--processor", "mean", "--processor-option", "frames=many"], "expected a whole number"),
        (["--processor-option", "frames=3"], "need --processor NAME"),
        (["--processor", "mean", "--processor-option", "frames"], "expected KEY=VALUE"),
    ],
)
def test_bad_processor_options_are_one_line_and_exit_2(tmp_path: Path, args, message) -> None:
    result = lightsheet("acquire", "--volumes", "1", "--out", str(tmp_path / "run"), *args)
    assert message in assert_one_line_error(result)
    assert not (tmp_path / "run").exists()  # refused before the run folder was made
