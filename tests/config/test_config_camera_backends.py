"""The camera section for real cameras: backends, device, GenICam settings, trigger edge."""

from __future__ import annotations

import pytest

from lightsheet.config import ConfigError, parse_config_text


def error_lines(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config_text(text, source="rig.yaml")
    return str(caught.value).splitlines()


def test_a_genicam_camera_is_described_by_device_and_its_settings() -> None:
    config = parse_config_text(
        "camera:\n"
        "  backend: genicam\n"
        "  device: 192.168.1.20\n"
        "  trigger_edge: falling\n"
        "  genicam:\n"
        "    pixel_format: Mono12\n"
        "    trigger_source: Line1\n",
        source="rig.yaml",
    )
    camera = config.camera
    assert (camera.backend, camera.device, camera.trigger_edge) == (
        "genicam",
        "192.168.1.20",
        "falling",
    )
    assert (camera.genicam.pixel_format, camera.genicam.trigger_source) == ("Mono12", "Line1")
    assert camera.genicam.packet_size == 0


@pytest.mark.parametrize("backend", ["genicam", "dcam", "andor3", "pco", "pvcam"])
def test_a_real_cameras_roi_waits_for_its_own_sensor(backend: str) -> None:
    # The default sensor_width is 1024; a 2048-pixel camera's ROI is checked once it is open.
    text = f"camera:\n  backend: {backend}\n  roi:\n    x: 1500\n    width: 500\n"
    assert parse_config_text(text, source="rig.yaml").camera.roi.x == 1500


def test_the_simulated_cameras_roi_is_checked_against_its_sensor() -> None:
    lines = error_lines("camera:\n  roi:\n    x: 1500\n")
    assert lines == ["rig.yaml:2: camera.roi: x 1500 is outside the sensor (sensor_width 1024)"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "camera:\n  backend: basler\n",
            "rig.yaml:2: camera.backend: must be one of 'simulated', 'genicam', 'dcam', "
            "'andor3', 'pco' or 'pvcam' (got 'basler')",
        ),
        (
            "camera:\n  genicam:\n    pixel_format: Mono10\n",
            "rig.yaml:3: camera.genicam.pixel_format: must be one of 'Mono8', 'Mono12' or "
            "'Mono16' (got 'Mono10')",
        ),
        (
            "camera:\n  trigger_edge: both\n",
            "rig.yaml:2: camera.trigger_edge: must be one of 'rising' or 'falling' (got 'both')",
        ),
    ],
)
def test_bad_camera_choices_are_one_line_with_the_allowed_values(text: str, line: str) -> None:
    assert error_lines(text) == [line]
