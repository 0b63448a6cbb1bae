"""A GUI on a small simulated rig for every test, closed and checked for leftovers after it.

The window opens at 1366 × 768, the smallest screen it is made for. napari's settings and the
GUI's own (layout, recent runs) go to temporary files: a test never touches the operator's.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import psutil
import pytest
from pytestqt.exceptions import TimeoutError as QtTimeoutError

from lightsheet.config import RigConfig
from tests.pipeline.rigs import our_blocks, small_rig

# Before napari reads its settings (it does once, on first use): never the operator's file.
_NAPARI_DIR = tempfile.mkdtemp(prefix="lightsheet-test-napari-")
atexit.register(shutil.rmtree, _NAPARI_DIR, ignore_errors=True)
os.environ["NAPARI_CONFIG"] = str(Path(_NAPARI_DIR) / "settings.yaml")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
SCREEN = (1366, 768)
START_TIMEOUT_MS = 60_000
PLANES = 5
SIZE = 64


def gui_rig(tmp_path: Path, **changes) -> RigConfig:
    """The pipeline tests' small rig, saving under ``tmp_path``; runs take well under a second."""
    config = small_rig(PLANES, size=SIZE).updated(
        name="test-rig", saving={"default_dir": str(tmp_path / "data")}
    )
    return config.updated(**changes) if changes else config


def children() -> list[str]:
    """Processes this test process started that are still alive, as "pid command line".

    multiprocessing's resource tracker is left out: Python starts it once per interpreter and
    it lives as long as the interpreter, whatever a session does.
    """
    alive = []
    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            command = " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            continue
        if "resource_tracker" not in command:
            alive.append(f"{child.pid} {command}")
    return alive


def gui_settings(folder: Path):
    """The GUI's settings (layout, recent runs) in a file of the test's own."""
    from qtpy.QtCore import QSettings

    return QSettings(str(folder / "gui.ini"), QSettings.IniFormat)


def open_window(qtbot, config: RigConfig, log_dir: Path, config_path: Path | None = None,
                settings=None, start: bool = True):  # fmt: skip
    from lightsheet.gui.app import create_window

    if settings is None:
        settings = gui_settings(log_dir.parent)
    window = create_window(config, config_path=config_path, log_dir=log_dir, settings=settings)
    # pytest-qt deletes it after the test, so no test's OpenGL canvas outlives it; a test that
    # fails during a run must not leave the window waiting for "Stop it and quit?".
    window.confirm_close = False
    qtbot.addWidget(window)
    window.resize(*SCREEN)
    window.show()
    qtbot.waitExposed(window)
    if start:
        window.start()
        qtbot.waitUntil(lambda: window.controller.ready, timeout=START_TIMEOUT_MS)
    return window


def close_window(qtbot, window) -> None:
    """Close as the operator does; every process and shared-memory block must be gone."""
    window.close()
    assert window._shut_down
    try:
        qtbot.waitUntil(lambda: children() == [], timeout=20_000)
    except QtTimeoutError:
        raise AssertionError(f"processes left after closing: {children()}") from None
    assert our_blocks() == []


@pytest.fixture
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> RigConfig:
    """The small GUI rig; ``indirect`` parametrisation passes config changes (a dict)."""
    changes = getattr(request, "param", None) or {}
    if "camera" in changes:
        merged = gui_rig(tmp_path).camera.model_dump()
        for key, value in changes["camera"].items():
            merged[key] = {**merged[key], **value} if isinstance(value, dict) else value
        changes = {**changes, "camera": merged}
    return gui_rig(tmp_path, **changes)


@pytest.fixture
def window(qtbot, rig: RigConfig, tmp_path: Path):
    """A started window; closed (and checked for leftovers) at the end of the test."""
    window = open_window(qtbot, rig, tmp_path / "logs")
    try:
        yield window
    finally:
        if not window._shut_down:
            window.request_close()


def screenshot(window, name: str) -> Path:
    """``artifacts/screenshots/<name>.png`` of the window as it is now (layouts settled)."""
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()  # pending layout changes, so the picture shows the new state
    QApplication.processEvents()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    assert window.grab().save(str(path)), f"could not write {path}"
    return path


WAIT_MS = 30_000  # qtbot.waitUntil timeout for anything a test waits on


def set_mode(qtbot, window, mode: str) -> None:
    window.mode_dock.buttons[mode].click()
    qtbot.waitUntil(lambda: window.controller.mode == mode, timeout=WAIT_MS)


def wait_new_images(qtbot, window, count: int = 2) -> None:
    start = window.preview.images_shown
    qtbot.waitUntil(lambda: window.preview.images_shown >= start + count, timeout=WAIT_MS)
