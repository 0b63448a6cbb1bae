"""How long the Qt event loop stalls: planar and volumetric previews, acquisitions with the
preview on, the z slider dragged through a live volume, and the 3D view.

Measured, printed and written to ``artifacts/event_loop_stall.txt``; never asserted (timing
depends on the machine). The target is below 50 ms: the operator never sees the window freeze.
"""

from __future__ import annotations

import time
from pathlib import Path

from qtpy.QtCore import QElapsedTimer, QObject, QTimer

from .conftest import SCREENSHOTS, close_window, gui_rig, open_window, screenshot

TICK_MS = 5
# Enough for a 99th percentile of each (hundreds of ticks), few enough for `make test`'s budget:
# under Xvfb's software rendering one 3D volume costs the loop about 0.3 s.
PLANAR_IMAGES = 30
VOLUME_IMAGES = 10
RUN_VOLUMES = 20
ARTIFACT = SCREENSHOTS.parent / "event_loop_stall.txt"


class StallMeter(QObject):
    """A 5 ms timer that records the largest gap between two of its ticks."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = QElapsedTimer()
        self.gaps: list[float] = []
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self._last = 0.0

    def start(self) -> None:
        self.gaps.clear()
        self.clock.start()
        self._last = 0.0
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed() / 1e6
        self.gaps.append(now - self._last)
        self._last = now

    def summary(self) -> str:
        gaps = sorted(self.gaps)
        if not gaps:
            return "no ticks"
        p99 = gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))]
        return f"longest stall {gaps[-1]:.1f} ms, 99th percentile {p99:.1f} ms, {len(gaps)} ticks"


def measure_run(qtbot, window, volumes: int) -> tuple[StallMeter, float]:
    meter = StallMeter()
    window.saving_dock.volumes.setValue(volumes)
    with qtbot.waitSignal(window.runner.finished, timeout=120_000) as finished:
        with qtbot.waitSignal(window.runner.started, timeout=30_000):
            assert window.start_acquisition()
        meter.start()
        start = time.monotonic()
    meter.stop()
    outcome = finished.args[0]
    assert outcome.volumes_saved == volumes, outcome
    return meter, time.monotonic() - start


def measure_preview(qtbot, window, images: int) -> tuple[StallMeter, float]:
    meter = StallMeter()
    shown = window.preview.images_shown
    meter.start()
    start = time.monotonic()
    qtbot.waitUntil(lambda: window.preview.images_shown >= shown + images, timeout=120_000)
    meter.stop()
    return meter, time.monotonic() - start


def measure_drag(qtbot, window, sweeps: int) -> tuple[StallMeter, int]:
    """The z slider moved one plane every 16 ms (a drag at 60 Hz), up and down, ``sweeps``
    times, while volumes keep arriving."""
    slider = window.qt_viewer.dims.slider_widgets[0].slider
    top = slider.maximum()
    path = [*range(top + 1), *range(top - 1, -1, -1)] * sweeps
    moves = iter(path)
    timer = QTimer()
    timer.setInterval(16)

    def step() -> None:
        value = next(moves, None)
        if value is None:
            timer.stop()
        else:
            slider.setValue(value)

    timer.timeout.connect(step)
    meter = StallMeter()
    meter.start()
    timer.start()
    qtbot.waitUntil(lambda: not timer.isActive(), timeout=120_000)
    meter.stop()
    return meter, len(path)


def test_event_loop_stall_during_a_volumetric_acquisition(qtbot, tmp_path: Path) -> None:
    config = gui_rig(
        tmp_path,
        camera={"sensor_width": 256, "sensor_height": 256, "exposure_ms": 2.0},
        scanning={"n_planes": 20, "z_start_um": 0.0, "z_end_um": 40.0, "volume_rate_hz": 10.0},
        buffers={"frame_ring_mb": 16, "volume_ring_mb": 64},
    )
    window = open_window(qtbot, config, tmp_path / "logs")
    results = []
    try:
        window.mode_dock.buttons["planar"].click()
        qtbot.waitUntil(lambda: window.controller.mode == "planar", timeout=30_000)
        qtbot.waitUntil(lambda: window.preview.images_shown > 2, timeout=30_000)
        meter, seconds = measure_preview(qtbot, window, images=PLANAR_IMAGES)
        results.append(
            f"planar preview, {PLANAR_IMAGES} frames of 256 x 256 shown in {seconds:.1f} s: "
            f"{meter.summary()}"
        )
        window.mode_dock.buttons["volumetric"].click()
        qtbot.waitUntil(lambda: window.controller.mode == "volumetric", timeout=30_000)
        qtbot.waitUntil(lambda: window.preview.layer.data.shape[0] == 20, timeout=30_000)
        meter, moves = measure_drag(qtbot, window, sweeps=3)
        results.append(
            f"z slider dragged over a live 20-plane volume, {moves} moves at 60 Hz: "
            f"{meter.summary()}"
        )
        for view in ("2D", "3D"):
            window.view_dock.three_d.setChecked(view == "3D")
            meter, seconds = measure_preview(qtbot, window, images=VOLUME_IMAGES)
            results.append(
                f"{view} volumetric preview, {VOLUME_IMAGES} volumes of 20 x 256 x 256 shown in "
                f"{seconds:.1f} s (drawing one costs the loop "
                f"{window.preview.render_cost_s * 1e3:.0f} ms): {meter.summary()}"
            )
            shown = window.preview.images_shown
            meter, seconds = measure_run(qtbot, window, volumes=RUN_VOLUMES)
            results.append(
                f"{view} volumetric acquisition, {RUN_VOLUMES} volumes of 20 x 256 x 256 in "
                f"{seconds:.1f} s, "
                f"{window.preview.images_shown - shown} preview updates: {meter.summary()}"
            )
        screenshot(window, "volumetric-acquisition")
    finally:
        close_window(qtbot, window)
    for line in results:
        print(line)
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text("\n".join(results) + "\n")
