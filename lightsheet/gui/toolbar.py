"""Start/stop and the run's progress, always in view above the preview.

The count is of volumes the saver has written, never of volumes acquired: after a saver crash
it must not claim what is not on disk. When a run ends the bar shows how it ended and what the
files hold (the run's Outcome), and the clock stops.
"""

from __future__ import annotations

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QLabel, QProgressBar, QSizePolicy, QToolBar, QWidget

from lightsheet.app.acquisition import Outcome
from lightsheet.app.session import Progress

START_SHORTCUT = "Ctrl+R"
STOP_SHORTCUT = "Ctrl+."
START_TIP = f"Acquire into the folder and run named in the Saving dock ({START_SHORTCUT})"


def format_duration(seconds: float | None) -> str:
    """h:mm:ss or m:ss; "–" when unknown."""
    if seconds is None:
        return "–"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class AcquisitionToolbar(QToolBar):
    """Start and Stop buttons, "volume x of n", elapsed and remaining time."""

    start_requested = Signal()
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Acquisition", parent)
        self.setObjectName("acquisition_toolbar")
        self.setMovable(False)
        self.start_action = self.addAction("▶ Start acquisition")
        self.start_action.setToolTip(START_TIP)
        self.start_action.setShortcut(START_SHORTCUT)
        self.start_action.triggered.connect(self.start_requested)
        self.stop_action = self.addAction("■ Stop")
        self.stop_action.setToolTip(
            f"End the run early; every frame acquired so far is saved ({STOP_SHORTCUT})"
        )
        self.stop_action.setShortcut(STOP_SHORTCUT)
        self.stop_action.triggered.connect(self.stop_requested)
        self.addSeparator()
        self.progress = QProgressBar()
        self.progress.setFixedWidth(280)
        self.progress.setTextVisible(True)
        self.addWidget(self.progress)
        self.times = QLabel()
        self.times.setMinimumWidth(200)
        self.times.setContentsMargins(10, 0, 10, 0)
        self.addWidget(self.times)
        self.message = QLabel()
        # Ignored: a long message is cut at the window's edge, never pushed into an overflow menu.
        self.message.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.addWidget(self.message)
        self.set_running(False)
        self.reset()

    def set_running(self, running: bool) -> None:
        self.start_action.setEnabled(not running)
        self.stop_action.setEnabled(running)

    def set_start_allowed(self, allowed: bool, why: str = "") -> None:
        """Start is refused while processes restart or after a fault; the tooltip says why."""
        if not self.stop_action.isEnabled():
            self.start_action.setEnabled(allowed)
        self.start_action.setToolTip(why or START_TIP)

    def reset(self, volumes: int = 0) -> None:
        self.progress.setRange(0, max(volumes, 1))
        self.progress.setValue(0)
        self.progress.setFormat(f"saved 0 of {volumes}" if volumes else "no acquisition")
        self.times.setText("")

    def show_progress(self, progress: Progress) -> None:
        """A live reading: volumes the saver wrote (not acquired), elapsed and remaining time."""
        target = max(progress.volumes_target, 1)
        self.progress.setRange(0, target)
        self.progress.setValue(min(progress.volumes_saved, target))
        if progress.fault is not None:
            self.show_stopped(f"{progress.fault.process} {progress.fault.reason}")
            return
        if progress.waiting_for_trigger:
            self.progress.setFormat("waiting for the trigger device…")
        else:
            self.progress.setFormat(f"saved {progress.volumes_saved} of {progress.volumes_target}")
        self.times.setText(
            f"elapsed {format_duration(progress.elapsed_s)} · "
            f"remaining {format_duration(progress.eta_s)}"
        )

    def show_stopped(self, why: str) -> None:
        """The run was cut off: no live count or clock until the files say what was kept."""
        self.progress.setFormat(f"stopped: {why}; counting what was saved…")
        self.times.setText("")

    def show_outcome(self, outcome: Outcome, target: int) -> None:
        """How the run ended and what its files hold (volumes on disk)."""
        self.progress.setRange(0, max(target, outcome.volumes_saved, 1))
        self.progress.setValue(outcome.volumes_saved)
        of = f" of {target}" if target else ""
        self.progress.setFormat(f"{outcome.status}: {outcome.volumes_saved}{of} saved on disk")
        self.times.setText(f"took {format_duration(outcome.duration_s)}")

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setToolTip(text)
