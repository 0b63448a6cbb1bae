"""The always-current status bar: rates, drops, buffers, disk, and a light per process.

It reads shared counters only (``Session.status_values()``, ``process_states()``), never asks
a child anything, so a busy or hung process cannot freeze it; a dropped frame turns its count
red at once, and a process that died shows red with its cause in the tooltip. When nothing runs
(after a fault, while restarting) the counters say so instead of keeping their last numbers.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QHBoxLayout, QLabel, QStatusBar, QWidget

from lightsheet.gui.controller import SessionController

log = logging.getLogger("lightsheet.gui")

REFRESH_MS = 250
GB = 1024**3
COLOURS = {"running": "#2ca02c", "died": "#d62728", "stopped": "#888888", "busy": "#e0a800"}
STOPPED_STYLE = "color: #888888"


def light_colour(state: str) -> str:
    """Green running, red died, amber starting, grey otherwise (stopped, not started)."""
    if state.startswith("died"):
        return COLOURS["died"]
    return COLOURS.get(state, COLOURS["stopped"])


class ProcessLight(QLabel):
    """● name, coloured by the process's state; the tooltip says the state and any cause."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.state = ""
        self.set_state("not started")

    def set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        colour = light_colour(state)
        self.setText(f"<span style='color:{colour}'>●</span> {self.name}")
        self.setToolTip(f"{self.name}: {state}")


class StatusBar(QStatusBar):
    """Frame rate, drops, ring fill, saver throughput, free disk and the process lights."""

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.disk_path: Path = Path.home()
        self._tips: dict[QLabel, str] = {}
        self.frame_rate = self._label("frame rate of the camera (frames/s)")
        self.dropped = self._label("frames the camera could not place in the frame ring")
        self.ring = self._label("fill of the shared-memory frame ring")
        self.saver = self._label(
            "throughput of the saver (MB/s) and the share of the last second it spent writing: "
            "near 100 % the disk is the limit, and a slower second of it fills the ring"
        )
        self.disk = self._label("free space where runs are saved")
        self.lights: dict[str, ProcessLight] = {}
        self._lights_box = QWidget()
        self._lights_layout = QHBoxLayout(self._lights_box)
        self._lights_layout.setContentsMargins(8, 0, 0, 0)
        self._lights_layout.setSpacing(10)
        self.addPermanentWidget(self._lights_box)
        self.values: dict[str, float] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()

    def _label(self, tip: str) -> QLabel:
        label = QLabel("–")
        label.setToolTip(tip)
        self._tips[label] = tip
        label.setMinimumWidth(90)
        self.addPermanentWidget(label)
        return label

    def set_disk_path(self, path: Path) -> None:
        """Where free space is measured: the folder runs go to (or its nearest parent)."""
        self.disk_path = Path(path).expanduser()
        self._refresh_disk()

    def stop(self) -> None:
        self._timer.stop()

    def refresh(self) -> None:
        """Read every counter once; called by the timer and after a fault."""
        controller = self.controller
        states = controller.session.process_states()
        if controller.busy:
            states = {name: "busy" for name in states or self.lights}
        self._refresh_lights(states)
        self._refresh_disk()
        fault = controller.session.fault
        if fault is not None:
            self.show_stopped(f"stopped: the {fault.process} process {fault.reason}")
            return
        if not controller.ready:
            self.show_stopped("processes starting" if controller.busy else "no processes")
            return
        try:
            status = controller.session.status_values()
        except Exception as exc:  # a session without counters yet: show dashes, keep going
            log.debug("status unavailable: %s", exc)
            return
        self.show_status(status)

    def show_stopped(self, why: str) -> None:
        """No live numbers: every counter says it is not running, with why in its tooltip."""
        self.values = {}
        for label, text in ((self.frame_rate, "stopped"), (self.dropped, "dropped –"),
                            (self.ring, "ring –"), (self.saver, "saver –")):  # fmt: skip
            label.setText(text)
            label.setStyleSheet(STOPPED_STYLE)
            label.setToolTip(why)

    def show_status(self, status: dict[str, float]) -> None:
        """Show one ``Session.status_values()`` reading."""
        if not self.values:  # live again: the labels' own style and tips
            for label, tip in self._tips.items():
                label.setStyleSheet("")
                label.setToolTip(tip)
        self.values = dict(status)
        rate = status.get("frame_rate_hz", 0.0)
        dropped = int(status.get("frames_dropped", 0))
        fill = status.get("ring_fill", 0.0)
        mbps = status.get("saver_mbps", 0.0)
        busy = status.get("saver_busy", 0.0)
        self.frame_rate.setText(f"{rate:6.1f} fps")
        colour = "#d62728" if dropped > 0 else "inherit"
        weight = "bold" if dropped > 0 else "normal"
        self.dropped.setText(
            f"<span style='color:{colour}; font-weight:{weight}'>dropped {dropped}</span>"
        )
        self.ring.setText(f"ring {fill * 100:3.0f} %")
        self.saver.setText(f"saver {mbps:6.1f} MB/s, writing {busy * 100:3.0f} %")

    def _refresh_lights(self, states: dict[str, str]) -> None:
        for name, state in states.items():
            light = self.lights.get(name)
            if light is None:
                light = ProcessLight(name)
                self.lights[name] = light
                self._lights_layout.addWidget(light)
            light.set_state(state)
        if not states:
            for light in self.lights.values():
                if not light.state.startswith("died"):
                    light.set_state("stopped")

    def _refresh_disk(self) -> None:
        path = self.disk_path
        while not path.exists() and path != path.parent:
            path = path.parent
        try:
            free = shutil.disk_usage(path).free
        except OSError:
            self.disk.setText("disk ?")
            return
        self.disk.setText(f"free {free / GB:.1f} GB")
        self.disk.setToolTip(f"free space on the disk of {path}")
