"""Defaults describe the simulated rig; helpers give the shapes and positions others rely on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

import lightsheet.config as config_package
from lightsheet.config import (
    AnalogOutput,
    CameraConfig,
    LoggingConfig,
    RigConfig,
    RoiConfig,
    SavingConfig,
    ScanningConfig,
    TriggerConfig,
    parse_config_text,
)


def all_models() -> list[type[BaseModel]]:
    return [
        value
        for value in vars(config_package).values()
        if isinstance(value, type) and issubclass(value, BaseModel)
    ]


def test_every_model_forbids_unknown_keys_and_validates_assignment() -> None:
    models = all_models()
    assert RigConfig in models and AnalogOutput in models and len(models) >= 17
    for model in models:
        assert model.model_config["extra"] == "forbid", model
        assert model.model_config["validate_assignment"] is True, model


def test_every_field_has_a_description() -> None:
    for model in all_models():
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name}"


def test_defaults_describe_the_simulated_rig() -> None:
    config = RigConfig()
    assert config.schema_version == 1
    assert config.name == "simulated"
    assert config.camera.backend == "simulated"
    assert config.daq.backend == "simulated"
    assert config.camera.exposure_ms == 10.0
    assert config.daq.channels.piezo == AnalogOutput(
        physical="Dev1/ao0", min_v=0, max_v=10, max_step_v=0.05, safe_v=0
    )
    assert [channel.physical for _, channel in config.daq.channels] == [
        "Dev1/ao0",
        "Dev1/ao1",
        "Dev1/ao2",
        "Dev1/ao3",
        "Dev1/ao4",
    ]
    assert config.trigger.mode == "none"
    assert config.daq.grpc_address == "localhost:31763"


@pytest.mark.parametrize("text", ["", "\n", "# nothing but a comment\n", "---\n"])
def test_empty_file_is_the_default_config(text: str) -> None:
    assert parse_config_text(text) == RigConfig()


def test_empty_section_means_its_defaults() -> None:
    assert parse_config_text("camera:\nviewer: {}\n") == RigConfig()


def test_defaults_are_not_shared_between_instances() -> None:
    first, second = RigConfig(), RigConfig()
    first.camera.simulated.drop_frame_ids.append(3)
    first.daq.channels.piezo.max_v = 8.0
    assert second.camera.simulated.drop_frame_ids == []
    assert second.daq.channels.piezo.max_v == 10.0


@pytest.mark.parametrize(
    ("binning", "roi", "shape"),
    [
        (1, {}, (1024, 1024)),
        (2, {}, (512, 512)),
        (1, {"x": 100, "y": 24}, (1000, 924)),
        (2, {"x": 10, "y": 20, "width": 300, "height": 201}, (100, 150)),
        (4, {"width": 64, "height": 32}, (8, 16)),
    ],
)
def test_frame_shape_after_roi_and_binning(
    binning: int, roi: dict[str, int], shape: tuple[int, int]
) -> None:
    camera = CameraConfig(binning=binning, roi=RoiConfig(**roi))
    assert camera.frame_shape == shape


def test_roi_box_resolves_null_sizes() -> None:
    camera = CameraConfig(sensor_width=2048, sensor_height=512, roi=RoiConfig(x=48, y=12))
    assert camera.roi_box == (48, 12, 2000, 500)


def test_z_positions_are_evenly_spaced_from_start_to_end() -> None:
    scanning = ScanningConfig(z_start_um=10, z_end_um=50, n_planes=5)
    assert scanning.z_positions_um() == [10.0, 20.0, 30.0, 40.0, 50.0]
    downward = ScanningConfig(z_start_um=100, z_end_um=-100, n_planes=3)
    assert downward.z_positions_um() == [100.0, 0.0, -100.0]
    assert ScanningConfig(n_planes=1, z_start_um=7).z_positions_um() == [7.0]
    default = ScanningConfig()
    positions = default.z_positions_um()
    assert len(positions) == default.n_planes
    assert positions[0] == default.z_start_um and positions[-1] == pytest.approx(200.0)


def test_processed_results_chunks_stay_small_whatever_the_frames_chunks() -> None:
    """Processed results wait in memory for their chunk; the frames' 2 GB default must not
    make a processor hold 2 GB of results."""
    assert SavingConfig().processed_chunk_bytes() == 256 * 2**20
    assert SavingConfig(chunk_ram_mb=64).processed_chunk_bytes() == 64 * 2**20


def test_volumes_per_chunk_follows_the_ram_budget_and_is_at_least_one() -> None:
    saving = SavingConfig(chunk_ram_mb=64)
    assert saving.volumes_per_chunk(16 * 2**20) == 4
    assert saving.volumes_per_chunk(15 * 2**20) == 4
    assert saving.volumes_per_chunk(200 * 2**20) == 1


def test_log_dir_defaults_to_the_user_state_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/var/state-here")
    assert LoggingConfig().resolved_dir() == Path("/var/state-here/lightsheet/logs")
    monkeypatch.delenv("XDG_STATE_HOME")
    assert LoggingConfig().resolved_dir() == Path.home() / ".local/state/lightsheet/logs"
    assert LoggingConfig(dir="~/logs").resolved_dir() == Path.home() / "logs"


def test_trigger_port_may_be_a_pyserial_url() -> None:
    trigger = TriggerConfig(mode="send", port="loop://")
    assert trigger.port == "loop://"


def test_refused_assignment_keeps_the_previous_value() -> None:
    camera = CameraConfig()
    with pytest.raises(ValidationError):
        camera.roi = RoiConfig(x=5000)
    assert camera.roi == RoiConfig()
    assert "roi" not in camera.model_fields_set
    camera.binning = 2
    assert camera.frame_shape == (512, 512)


def test_importing_the_models_does_not_import_numpy() -> None:
    # Fresh interpreter: other tests in this process may have imported numpy already.
    code = "import sys, lightsheet.config; print('numpy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_updated_changes_related_fields_together() -> None:
    trigger = TriggerConfig()
    with pytest.raises(ValidationError):
        trigger.mode = "wait"  # one at a time, the port is still missing
    assert trigger.mode == "none"
    waiting = trigger.updated(mode="wait", port="/dev/ttyUSB0")
    assert (waiting.mode, waiting.port) == ("wait", "/dev/ttyUSB0")
    assert trigger.mode == "none"
    with pytest.raises(ValidationError):
        trigger.updated(mode="send")
