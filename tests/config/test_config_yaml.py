"""YAML in and out: the committed preset, resolved dumps, saves that keep the comments."""

from __future__ import annotations

import difflib
import os
import stat
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from lightsheet.config import (
    CalibrationPoint,
    RigConfig,
    default_config_text,
    document_text,
    dump_config,
    init_config,
    load_config,
    load_document,
    parse_config_text,
    parse_document_text,
    save_document,
    update_document,
)

REPOSITORY = Path(__file__).resolve().parents[2]
PRESET = REPOSITORY / "config" / "simulated.yaml"

OPERATOR_FILE = """\
# Bench 2, room 3.14 -- ask Ana before changing the lasers.

# the name shows in the window title
name: bench-2   # short!
camera:
  # fast exposure for beads
  exposure_ms: 5  # ms
  roi:
    x: 8  # left margin is dead

  # triggered by the DAQ
  trigger_mode: external
  simulated:
    drop_frame_ids:
      - 3
      - 5   # five is flaky
    # (ids above are frame ids)

# scanning, calibrated 2024-05-02
scanning:
  n_planes: 10
  calibration:
    points:
      - piezo_um: 0
        galvo_v: -2.0
      - piezo_um: 100
        galvo_v: 0.1  # measured
    # more points next week
  # end of scanning
viewer:
  contrast_limits: [100, 2000]  # tuned for beads
# end of file
"""


def comments(text: str) -> list[str]:
    """Every comment in the text, in order, without surrounding spaces."""
    found = []
    for line in text.splitlines():
        if "#" in line:
            found.append(line[line.index("#") :].strip())
    return found


def diff(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_committed_preset_equals_the_generated_default() -> None:
    assert PRESET.read_text(encoding="utf-8") == default_config_text(), (
        "config/simulated.yaml is out of date: write default_config_text() to it"
    )


def test_preset_loads_to_the_defaults() -> None:
    assert load_config(PRESET) == RigConfig()


def test_default_text_documents_every_field() -> None:
    text = default_config_text()
    assert "exposure_ms: 10.0" in text
    assert "# Exposure time of each frame in milliseconds. Range: 0.01 to 10000." in text
    assert "# Pixels combined along each sensor axis. One of: 1, 2, 4." in text
    assert all(len(line) <= 100 for line in text.splitlines())


def test_dump_config_resolves_every_default() -> None:
    config = parse_config_text("name: bench\ncamera:\n  binning: 2\n")
    text = dump_config(config)
    assert "#" not in text
    assert "binning: 2" in text and "grpc_address: localhost:31763" in text
    assert parse_config_text(text) == config


@settings(max_examples=40, deadline=None)
@given(
    exposure=st.floats(0.01, 10000, allow_nan=False),
    n_planes=st.integers(3, 2000),
    name=st.text(min_size=1, max_size=20).filter(lambda text: text.strip() == text and text),
    drops=st.lists(st.integers(0, 10**9), max_size=4),
    limits=st.none() | st.tuples(st.integers(-5, 5), st.integers(6, 70000)),
)
def test_dump_then_parse_gives_the_same_config(
    exposure: float, n_planes: int, name: str, drops: list[int], limits: tuple[int, int] | None
) -> None:
    config = RigConfig()
    config.name = name
    config.camera.exposure_ms = exposure
    config.scanning.n_planes = n_planes
    config.camera.simulated.drop_frame_ids = drops
    config.viewer.contrast_limits = limits
    assert parse_config_text(dump_config(config)) == config


def test_update_keeps_comments_and_key_order(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text(OPERATOR_FILE)
    config = load_config(path)
    config.camera.exposure_ms = 12.5
    config.scanning.n_planes = 20
    config.camera.simulated.drop_frame_ids = [3, 5, 7]
    config.viewer.contrast_limits = (100, 3000)

    document = load_document(path)
    update_document(document, config)
    save_document(document, path)
    saved = path.read_text()

    assert load_config(path) == config
    # Every comment of the operator survives, in the same order.
    operator_comments = comments(OPERATOR_FILE)
    kept = [comment for comment in comments(saved) if comment in operator_comments]
    assert kept == operator_comments
    # The operator's keys keep their order; the added ones follow the models' order.
    assert [key for key in document if key in ("name", "camera", "scanning", "viewer")] == [
        "name",
        "camera",
        "scanning",
        "viewer",
    ]
    assert list(document) == list(RigConfig.model_fields)
    # Each comment still sits right above the key it was written for.
    lines = saved.splitlines()
    for comment, key in [
        ("# fast exposure for beads", "exposure_ms: 12.5"),
        ("# triggered by the DAQ", "trigger_mode: external"),
        ("# scanning, calibrated 2024-05-02", "scanning:"),
        ("# the name shows in the window title", "name: bench-2"),
    ]:
        index = next(i for i, line in enumerate(lines) if line.strip() == comment)
        assert lines[index + 1].strip().startswith(key), (comment, lines[index + 1])
    assert lines[0] == "# Bench 2, room 3.14 -- ask Ana before changing the lasers."
    assert lines[-1] == "# end of file"
    assert "      - 5   # five is flaky" in lines
    assert "  contrast_limits: [100, 3000]  # tuned for beads" in lines
    # Comments written under a nested list stay with it, not with the keys added after it.
    after_points = lines.index("    # more points next week")
    assert lines[after_points - 1] == "        galvo_v: 0.1  # measured"
    assert lines[after_points + 1] == "  # end of scanning"


def test_update_changes_only_what_changed() -> None:
    default = default_config_text()
    document = parse_document_text(default)
    config = RigConfig()
    config.camera.exposure_ms = 20.0
    config.trigger = config.trigger.updated(mode="wait", port="loop://")
    update_document(document, config)
    assert diff(default, document_text(document)) == [
        "-  exposure_ms: 10.0",
        "+  exposure_ms: 20.0",
        "-  mode: none",
        "+  mode: wait",
        "-  port: null",
        "+  port: loop://",
    ]
    # Back to the defaults gives the original text again, byte for byte.
    update_document(document, RigConfig())
    assert document_text(document) == default


def test_update_grows_empty_lists_in_place() -> None:
    document = parse_document_text(default_config_text())
    config = RigConfig()
    config.camera.simulated.drop_frame_ids = [4, 9]
    config.scanning.calibration.points = [
        CalibrationPoint(piezo_um=0, galvo_v=-2),
        CalibrationPoint(piezo_um=100, galvo_v=0),
    ]
    update_document(document, config)
    assert diff(default_config_text(), document_text(document)) == [
        "-    drop_frame_ids: []",
        "+    drop_frame_ids: [4, 9]",
        "-    points: []",
        "+    points:",
        "+      - piezo_um: 0.0",
        "+        galvo_v: -2.0",
        "+      - piezo_um: 100.0",
        "+        galvo_v: 0.0",
    ]
    assert parse_config_text(document_text(document)) == config


def test_unchanged_values_keep_their_spelling() -> None:
    text = "name: 'bench'\ncamera:\n  exposure_ms: 10   # integer on purpose\n"
    document = parse_document_text(text)
    update_document(document, parse_config_text(text))
    updated = document_text(document)
    assert "name: 'bench'" in updated
    assert "  exposure_ms: 10   # integer on purpose" in updated


def test_update_fills_an_empty_document_and_null_sections() -> None:
    document = parse_document_text("")
    update_document(document, RigConfig())
    assert parse_config_text(document_text(document)) == RigConfig()
    document = parse_document_text("camera:   # all defaults\nname: x\n")
    update_document(document, parse_config_text("name: x\n"))
    text = document_text(document)
    assert "camera:   # all defaults" in text
    assert parse_config_text(text) == RigConfig(name="x")


def test_update_removes_keys_the_models_do_not_know() -> None:
    document = parse_document_text("name: x\nbogus: 1  # gone\n# about the camera\ncamera: {}\n")
    update_document(document, RigConfig(name="x"))
    text = document_text(document)
    assert "bogus" not in text
    lines = text.splitlines()
    assert lines[lines.index("# about the camera") + 1] == "camera:"
    assert parse_config_text(text) == RigConfig(name="x")


def test_save_replaces_the_file_and_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text("name: x\n")
    path.chmod(0o640)
    document = load_document(path)
    document["name"] = "y"
    save_document(document, path)
    assert path.read_text() == "name: y\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["rig.yaml"]  # no temporary file left behind


def test_save_through_a_symlink_writes_the_target(tmp_path: Path) -> None:
    target = tmp_path / "real.yaml"
    target.write_text("name: x\n")
    link = tmp_path / "rig.yaml"
    link.symlink_to(target)
    document = load_document(link)
    document["name"] = "y"
    save_document(document, link)
    assert link.is_symlink()
    assert target.read_text() == "name: y\n"


def test_init_writes_the_annotated_default(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    init_config(path)
    assert path.read_text() == default_config_text()
    assert load_config(path) == RigConfig()
