"""``lightsheet cameras`` through the real command line, with Aravis's simulators on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lightsheet.config import RigConfig
from tests.hardware.aravis_sim import gige_simulator, loopback_simulator_lock, wait_for_free_port

from .cli_helpers import assert_one_line_error, lightsheet, write_config

PYLABLIB_BACKENDS = ("dcam", "andor3", "pco", "pvcam")


def lines_of(result: subprocess.CompletedProcess) -> dict[str, list[str]]:
    by_backend: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        backend, _, rest = line.partition(" ")
        by_backend.setdefault(backend, []).append(rest.strip())
    return by_backend


def test_lists_cameras_at_the_addresses_given_and_one_line_per_unavailable_backend() -> None:
    with gige_simulator(serial="LSLIST"):
        result = lightsheet("cameras", "--address", "127.0.0.1", "--address", "Fake_1")
    assert result.returncode == 0, result.stderr
    listed = lines_of(result)
    assert sorted(listed["genicam"]) == [
        "Aravis Fake (serial 1)  2048 x 2048  Fake_1",
        "Aravis Fake (serial LSLIST)  2048 x 2048  at 127.0.0.1",
    ]
    for backend in PYLABLIB_BACKENDS:  # no vendor SDK on this machine
        assert len(listed[backend]) == 1 and listed[backend][0].startswith("unavailable: ")
    assert result.stderr == ""


def test_discovery_finds_cameras_only_through_the_interface_named() -> None:
    with gige_simulator(serial="LSDISC"):
        result = lightsheet("cameras", "--discover", "--interface", "lo")
    assert result.returncode == 0, result.stderr
    assert lines_of(result)["genicam"] == ["Aravis Fake (serial LSDISC)  2048 x 2048  at 127.0.0.1"]


def test_without_discover_no_gige_camera_is_searched_for() -> None:
    with gige_simulator(serial="LSQUIET"):
        result = lightsheet("cameras")
    assert result.returncode == 0, result.stderr
    (genicam,) = lines_of(result)["genicam"]
    assert "no USB3 Vision camera" in genicam and "LSQUIET" not in result.stdout


def test_the_camera_of_a_config_is_opened(tmp_path: Path) -> None:
    rig = RigConfig.model_validate({"camera": {"backend": "genicam", "device": "127.0.0.1"}})
    config = write_config(rig, tmp_path / "rig.yaml")
    with gige_simulator(serial="LSCONF"):
        result = lightsheet("cameras", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "Aravis Fake (serial LSCONF)  2048 x 2048  at 127.0.0.1" in lines_of(result)["genicam"]


def test_a_named_camera_that_is_absent_is_its_own_line_and_exit_1() -> None:
    with loopback_simulator_lock():
        wait_for_free_port()
        result = lightsheet("cameras", "--address", "127.0.0.1")
    assert result.returncode == 1, result.stderr
    (genicam,) = lines_of(result)["genicam"]
    assert genicam.startswith("no GigE Vision camera answers at 127.0.0.1")
    assert genicam.endswith("at 127.0.0.1") and "Traceback" not in result.stderr


def test_discovery_without_an_interface_or_on_an_unknown_one_is_bad_usage() -> None:
    assert "--discover needs --interface NAME" in assert_one_line_error(
        lightsheet("cameras", "--discover")
    )
    assert "no network interface 'nosuch0'" in assert_one_line_error(
        lightsheet("cameras", "--discover", "--interface", "nosuch0")
    )
    assert "only applies with --discover" in assert_one_line_error(
        lightsheet("cameras", "--interface", "lo")
    )


BLOCKED = """
import sys
sys.modules["gi"] = None  # as if PyGObject were not installed
sys.modules["pylablib"] = None
from lightsheet.cli.main import main
raise SystemExit(main(sys.argv[1:]))
"""


def test_without_aravis_and_pylablib_each_backend_says_why_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED, "cameras"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    listed = lines_of(result)
    assert listed["genicam"] == [
        "unavailable: PyGObject is not installed; install Aravis and PyGObject (Debian: apt-get "
        "install gir1.2-aravis-0.8; pip install 'PyGObject<3.51'; `make test` does both)"
    ]
    for backend in PYLABLIB_BACKENDS:
        assert listed[backend] == ["unavailable: pylablib is not installed (pip install pylablib)"]


def test_without_aravis_the_simulated_rig_still_acquires(tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED, "acquire", "--volumes", "1", "--out", str(run)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (run / "dataset.h5").exists()
