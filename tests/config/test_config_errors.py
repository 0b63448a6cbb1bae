"""Every kind of bad config gives one exact `FILE:LINE: key.path: message` line."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
from pydantic import ValidationError

from lightsheet.config import (
    CameraConfig,
    ConfigError,
    ConfigIssue,
    RigConfig,
    ScanningConfig,
    init_config,
    issues_from_validation_error,
    load_config,
    parse_config_text,
)


def error_lines(text: str, source: str = "rig.yaml") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config_text(text, source=source)
    return str(caught.value).splitlines()


BAD_VALUES = [
    pytest.param(
        "name: bench\ncamera:\n  exposure_ms: -3\n",
        "rig.yaml:3: camera.exposure_ms: must be greater than or equal to 0.01 (got -3)",
        id="below range",
    ),
    pytest.param(
        "camera:\n  exposure_ms: 20000\n",
        "rig.yaml:2: camera.exposure_ms: must be less than or equal to 10000 (got 20000)",
        id="above range",
    ),
    pytest.param(
        "buffers:\n  frame_ring_mb: 0\n",
        "rig.yaml:2: buffers.frame_ring_mb: must be greater than 0 (got 0)",
        id="not positive",
    ),
    pytest.param(
        "schema_version: 1\nname: x\ncamera:\n  exposre_ms: 3\n",
        "rig.yaml:4: camera.exposre_ms: unknown key (did you mean exposure_ms?)",
        id="misspelt key",
    ),
    pytest.param(
        "camrea:\n  binning: 2\n",
        "rig.yaml:1: camrea: unknown key (did you mean camera?)",
        id="misspelt section",
    ),
    pytest.param(
        "viewer:\n  zzz: 1\n",
        "rig.yaml:2: viewer.zzz: unknown key (known keys: contrast, colormap, contrast_limits)",
        id="unknown key, nothing close",
    ),
    pytest.param(
        "scanning:\n  z_end_um: 100\n  n_planes: many\n",
        "rig.yaml:3: scanning.n_planes: expected an integer (got 'many')",
        id="not an integer",
    ),
    pytest.param(
        "scanning:\n  n_planes: 2.5\n",
        "rig.yaml:2: scanning.n_planes: expected a whole number (got 2.5)",
        id="fractional integer",
    ),
    pytest.param(
        "scanning:\n  volume_rate_hz: fast\n",
        "rig.yaml:2: scanning.volume_rate_hz: expected a number (got 'fast')",
        id="not a number",
    ),
    pytest.param(
        "scanning:\n  z_start_um: .nan\n",
        "rig.yaml:2: scanning.z_start_um: expected a finite number (got nan)",
        id="nan",
    ),
    pytest.param(
        "daq:\n  piezo_readback:\n    enabled: maybe\n",
        "rig.yaml:3: daq.piezo_readback.enabled: expected true or false (got 'maybe')",
        id="not a boolean",
    ),
    pytest.param(
        "name: 123\n",
        "rig.yaml:1: name: expected text (got 123; put it in quotes)",
        id="not text",
    ),
    pytest.param(
        "saving:\n  default_dir: 2024-05-02\n",
        "rig.yaml:2: saving.default_dir: expected text (got 2024-05-02; put it in quotes)",
        id="date, not text",
    ),
    pytest.param(
        "camera:\n  2: 3\n",
        "rig.yaml:2: camera.2: unknown key (known keys: backend, device, exposure_ms, binning, "
        "sensor_width, sensor_height, roi, trigger_mode, trigger_edge, pixel_size_um, "
        "readout_ms, simulated, genicam)",
        id="number as key",
    ),
    pytest.param("name: ''\n", "rig.yaml:1: name: must not be empty", id="empty text"),
    pytest.param(
        "camera:\n  trigger_mode: ext\n",
        "rig.yaml:2: camera.trigger_mode: must be one of 'internal' or 'external' (got 'ext')",
        id="literal choice",
    ),
    pytest.param(
        "camera:\n  binning: 3\n",
        "rig.yaml:2: camera.binning: must be one of 1, 2 or 4 (got 3)",
        id="numeric choice",
    ),
    pytest.param(
        "camera: 5\n",
        "rig.yaml:1: camera: expected a mapping of keys (got 5)",
        id="section not a mapping",
    ),
    pytest.param(
        "camera:\n  simulated:\n    drop_frame_ids: 7\n",
        "rig.yaml:3: camera.simulated.drop_frame_ids: expected a list (got 7)",
        id="not a list",
    ),
    pytest.param(
        "camera:\n  simulated:\n    drop_frame_ids: [1, -2]\n",
        "rig.yaml:3: camera.simulated.drop_frame_ids[1]: "
        "must be greater than or equal to 0 (got -2)",
        id="list item",
    ),
    pytest.param(
        "scanning:\n  calibration:\n    points:\n      - piezo_um: 0\n        galvo_v: 1\n"
        "      - piezo_um: 5\n        galvo_v: x\n",
        "rig.yaml:7: scanning.calibration.points[1].galvo_v: expected a number (got 'x')",
        id="key inside a list item",
    ),
    pytest.param(
        "viewer:\n  contrast_limits: [1, 2, 3]\n",
        "rig.yaml:2: viewer.contrast_limits: expected two numbers [low, high] (got a list of 3)",
        id="pair of the wrong length",
    ),
    pytest.param(
        "viewer:\n  contrast_limits: [1]\n",
        "rig.yaml:2: viewer.contrast_limits: expected two numbers [low, high] (got a list of 1)",
        id="pair too short",
    ),
    pytest.param(
        "schema_version: 2\ncamera:\n  bogus: 1\n",
        "rig.yaml:1: schema_version: unsupported schema version 2 "
        "(this lightsheet reads version 1)",
        id="other schema version, alone",
    ),
    pytest.param(
        "schema_version: '2'\n",
        "rig.yaml:1: schema_version: unsupported schema version 2 "
        "(this lightsheet reads version 1)",
        id="schema version as text",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_VALUES)
def test_bad_value_gives_exact_line(text: str, expected: str) -> None:
    assert error_lines(text) == [expected]


CROSS_FIELD = [
    pytest.param(
        "camera:\n  sensor_width: 1024\n  roi:\n    x: 1000\n    width: 100\n",
        "rig.yaml:3: camera.roi: does not fit the 1024 x 1024 sensor "
        "(x + width = 1100 > sensor_width 1024)",
        id="roi past the sensor edge",
    ),
    pytest.param(
        "camera:\n  roi:\n    y: 2000\n",
        "rig.yaml:2: camera.roi: y 2000 is outside the sensor (sensor_height 1024)",
        id="roi outside the sensor",
    ),
    pytest.param(
        "camera:\n  binning: 4\n  roi:\n    width: 2\n",
        "rig.yaml:3: camera.roi: width 2 is smaller than the binning (4)",
        id="roi smaller than binning",
    ),
    pytest.param(
        "daq:\n  channels:\n    piezo: {physical: Dev1/ao0, min_v: 5, max_v: 0, "
        "max_step_v: 1, safe_v: 0}\n",
        "rig.yaml:3: daq.channels.piezo.max_v: must be greater than min_v (5) (got 0)",
        id="channel limits reversed",
    ),
    pytest.param(
        "daq:\n  channels:\n    z_galvo:\n      physical: Dev1/ao1\n      min_v: -5\n"
        "      max_v: 5\n      max_step_v: 0.1\n      safe_v: 7\n",
        "rig.yaml:8: daq.channels.z_galvo.safe_v: must be between min_v and max_v (-5 to 5) "
        "(got 7)",
        id="safe voltage outside the limits",
    ),
    pytest.param(
        "scanning:\n  z_start_um: 50\n  z_end_um: 50\n",
        "rig.yaml:3: scanning.z_end_um: must differ from z_start_um (both 50)",
        id="empty sweep",
    ),
    pytest.param(
        "scanning:\n  n_planes: 4\n  skip_planes_start: 2\n  skip_planes_end: 2\n",
        "rig.yaml:4: scanning.skip_planes_end: skip_planes_start + skip_planes_end (4) "
        "must be less than n_planes (4)",
        id="every plane skipped",
    ),
    pytest.param(
        "trigger:\n  mode: wait\n",
        "rig.yaml:1: trigger.port: required when mode is 'wait'",
        id="trigger without port: the section's line",
    ),
    pytest.param(
        "viewer:\n  contrast_limits: [500, 100]\n",
        "rig.yaml:2: viewer.contrast_limits: low must be less than high (got [500, 100])",
        id="contrast limits reversed",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CROSS_FIELD)
def test_model_validator_names_the_key(text: str, expected: str) -> None:
    assert error_lines(text) == [expected]


def test_missing_required_nested_keys_point_at_their_parent() -> None:
    text = "daq:\n  channels:\n    piezo:\n      physical: Dev2/ao0\n      min_v: 0\n"
    assert error_lines(text) == [
        "rig.yaml:3: daq.channels.piezo.max_v: required key is missing",
        "rig.yaml:3: daq.channels.piezo.max_step_v: required key is missing",
        "rig.yaml:3: daq.channels.piezo.safe_v: required key is missing",
    ]


def test_several_issues_come_in_file_order() -> None:
    text = "viewer:\n  contrast: sometimes\ncamera:\n  exposure_ms: 0\n  bining: 2\n"
    assert error_lines(text) == [
        "rig.yaml:2: viewer.contrast: must be one of 'auto_once', 'auto' or 'manual' "
        "(got 'sometimes')",
        "rig.yaml:4: camera.exposure_ms: must be greater than or equal to 0.01 (got 0)",
        "rig.yaml:5: camera.bining: unknown key (did you mean binning?)",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "name: x\ncamera:\n  exposure_ms: 5\n   binning: 2\n",
            "rig.yaml:4: YAML syntax error: mapping values are not allowed here",
            id="bad indentation",
        ),
        pytest.param(
            "camera:\n\tbinning: 2\n",
            "rig.yaml:2: YAML syntax error: found character '\\t' that cannot start any token",
            id="tab",
        ),
        pytest.param(
            "name: a\nname: b\n",
            'rig.yaml:2: YAML syntax error: found duplicate key "name" with value "b" '
            '(original value: "a")',
            id="duplicate key",
        ),
        pytest.param(
            "name: a\n---\nname: b\n",
            "rig.yaml:2: YAML syntax error: expected a single document in the stream, "
            "but found another document",
            id="two documents",
        ),
    ],
)
def test_yaml_syntax_error_gives_line_and_ruamel_problem(text: str, expected: str) -> None:
    assert error_lines(text) == [expected]


@pytest.mark.parametrize(
    ("text", "shown"),
    [("just a string\n", "'just a string'"), ("- 1\n- 2\n", "a list"), ("42\n", "42")],
)
def test_top_level_must_be_a_mapping(text: str, shown: str) -> None:
    assert error_lines(text) == [
        f"rig.yaml: expected a mapping of keys at the top level (got {shown})"
    ]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: file not found"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "locked.yaml"
    path.write_text("name: x\n")
    path.chmod(0)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: cannot read file: permission denied"


def test_permission_error_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Runs as root too, where chmod cannot make a file unreadable.
    def refuse(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(ConfigError) as caught:
        load_config("locked.yaml")
    assert str(caught.value) == "locked.yaml: cannot read file: permission denied"


def test_directory_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value) == f"{tmp_path}: cannot read file: is a directory"
    binary = tmp_path / "rig.yaml"
    binary.write_bytes(b"name: \xff\n")
    with pytest.raises(ConfigError) as caught:
        load_config(binary)
    assert str(caught.value) == f"{binary}: cannot read file: not UTF-8 text (byte 6)"


def test_load_config_names_the_file_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("rig.yaml").write_text("# my rig\nname: bench\ncamera:\n  exposure_ms: -3\n")
    with pytest.raises(ConfigError) as caught:
        load_config("rig.yaml")
    assert str(caught.value) == (
        "rig.yaml:4: camera.exposure_ms: must be greater than or equal to 0.01 (got -3)"
    )


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text("name: mine\n")
    with pytest.raises(ConfigError) as caught:
        init_config(path)
    assert str(caught.value) == (
        f"{path}: already exists; not overwritten (choose another name or delete it)"
    )
    assert path.read_text() == "name: mine\n"


def test_init_into_missing_folder(tmp_path: Path) -> None:
    path = tmp_path / "no-such-folder" / "rig.yaml"
    with pytest.raises(ConfigError) as caught:
        init_config(path)
    assert str(caught.value) == f"{path}: cannot write file: no such file or directory"


def test_issue_format_without_line_or_key() -> None:
    assert str(ConfigIssue("a.yaml", None, "", "file not found")) == "a.yaml: file not found"
    assert str(ConfigIssue("a.yaml", 3, "", "YAML syntax error: x")) == (
        "a.yaml:3: YAML syntax error: x"
    )
    assert str(ConfigIssue("a.yaml", None, "camera", "m")) == "a.yaml: camera: m"


def test_config_error_survives_pickling() -> None:
    # Errors may be reported from a child process to the main one.
    error = ConfigError([ConfigIssue("a.yaml", 2, "name", "must not be empty")])
    copy = pickle.loads(pickle.dumps(error))
    assert copy.issues == error.issues
    assert str(copy) == "a.yaml:2: name: must not be empty"


def test_refused_assignment_is_reported_and_changes_nothing() -> None:
    config = RigConfig()
    with pytest.raises(ValidationError) as caught:
        config.scanning.z_end_um = config.scanning.z_start_um
    issues = issues_from_validation_error(caught.value, "<settings>", model=ScanningConfig)
    assert [str(issue) for issue in issues] == [
        "<settings>: z_end_um: must differ from z_start_um (both 0)"
    ]
    assert config.scanning.z_end_um == 200.0
    with pytest.raises(ValidationError) as caught:
        config.camera.exposure_ms = 0
    issues = issues_from_validation_error(caught.value, "<settings>", model=CameraConfig)
    assert [str(issue) for issue in issues] == [
        "<settings>: exposure_ms: must be greater than or equal to 0.01 (got 0)"
    ]
    assert config.camera.exposure_ms == 10.0
