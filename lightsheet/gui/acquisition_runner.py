"""One acquisition driven from the GUI: the same Acquisition the CLI uses, polled by a timer.

Starting and finishing wait for the processes, so they run on the controller's command thread;
progress is read from shared counters in the Qt thread five times a second. When the run ends,
the session's log files are copied into the run folder, so a run made in the GUI carries its
logs like one made with ``lightsheet acquire``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from qtpy.QtCore import QObject, QTimer, Signal

from lightsheet.app.acquisition import Acquisition, Outcome
from lightsheet.app.run_folder import prepare_run_folder
from lightsheet.app.session import Progress
from lightsheet.gui.controller import SessionController

log = logging.getLogger("lightsheet.gui")

POLL_MS = 200
FINISH_TIMEOUT_S = 60.0


class AcquisitionRunner(QObject):
    """Start, follow and stop runs; emits :attr:`finished` with the run's Outcome."""

    started = Signal(object)  # Path of the run folder
    progressed = Signal(object)  # lightsheet.app.session.Progress
    finished = Signal(object)  # Outcome
    failed = Signal(str)  # the run could not start

    def __init__(self, controller: SessionController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.acquisition: Acquisition | None = None
        self._finishing = False
        self._polling = False
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    @property
    def running(self) -> bool:
        return self.acquisition is not None

    def start(
        self,
        folder: Path,
        volumes: int | None = None,
        duration_s: float | None = None,
        overwrite: bool = False,
    ) -> None:
        """Prepare ``folder`` and start a run; RunFolderError when the folder cannot take it."""
        if self.running:
            raise RuntimeError("an acquisition is already running")
        folder = prepare_run_folder(folder, overwrite)
        acquisition = Acquisition(
            self.controller.session,
            folder,
            volumes,
            duration_s,
            extra_metadata={"frontend": "gui"},
        )
        self.acquisition = acquisition
        self._finishing = False
        self.controller.set_acquiring(True)
        self.controller.submit(acquisition.start, lambda _: self._on_started(), self._on_refused)

    def stop(self, reason: str = "stopped by the operator") -> None:
        """End the run early; every frame already acquired is saved."""
        acquisition = self.acquisition
        if acquisition is not None:
            self.controller.submit(lambda: acquisition.interrupt(reason))

    def finish_now(self, reason: str, timeout_s: float = FINISH_TIMEOUT_S) -> Outcome | None:
        """Stop and finish synchronously (the window is closing); the metadata is written."""
        acquisition = self.acquisition
        if acquisition is None:
            return None
        self._timer.stop()
        if self._finishing:  # the poll already queued the finish: let it complete
            self.controller.call_sync(lambda: None, timeout_s)
            self._ended(None)
            return None

        def stop_and_finish() -> Outcome:
            if acquisition.progress is not None and not acquisition.ended:
                acquisition.interrupt(reason)
            return self._finish(acquisition)

        try:
            outcome = self.controller.call_sync(stop_and_finish, timeout_s)
        except Exception:
            log.exception("could not finish the run cleanly")
            outcome = None
        self._ended(outcome)
        return outcome

    # -- internals ----------------------------------------------------------------------------

    def _on_started(self) -> None:
        if self.acquisition is None:
            return
        self.started.emit(self.acquisition.folder)
        self._timer.start()

    def _on_refused(self, exc: BaseException) -> None:
        log.warning("the run could not start: %s", exc)
        self.acquisition = None
        self.controller.set_acquiring(False)
        self.failed.emit(str(exc))

    def _poll(self) -> None:
        acquisition = self.acquisition
        if acquisition is None or self._finishing or self._polling:
            return
        # Session.progress() may act on the trigger device's news (new volume count, stop),
        # which talks to the processes: it runs on the command thread like every such call.
        self._polling = True
        self.controller.submit(
            acquisition.poll,
            lambda progress: self._on_progress(acquisition, progress),
            lambda exc: self._on_progress(acquisition, None, exc),
        )

    def _on_progress(
        self, acquisition: Acquisition, progress: Progress | None, exc: BaseException | None = None
    ) -> None:
        self._polling = False
        if acquisition is not self.acquisition or self._finishing:
            return
        if exc is not None:  # the session went away under us (a fault closed it)
            log.warning("progress unavailable: %s", exc)
        if progress is not None:
            self.progressed.emit(progress)
        if progress is None or acquisition.ended:
            self._finishing = True
            self._timer.stop()
            self.controller.submit(
                lambda: self._finish(acquisition), self._ended, lambda exc: self._ended(None)
            )

    def _finish(self, acquisition: Acquisition) -> Outcome:
        outcome = acquisition.finish()
        self._copy_logs(acquisition.folder)
        return outcome

    def _copy_logs(self, folder: Path) -> None:
        target = folder / "logs"
        try:
            target.mkdir(exist_ok=True)
            for path in sorted(self.controller.log_dir.glob("*.log")):
                shutil.copy2(path, target / path.name)
        except OSError as exc:
            log.warning("could not copy the logs into %s: %s", target, exc)

    def _ended(self, outcome: Outcome | None) -> None:
        if self.acquisition is None:
            return
        self.acquisition = None
        self._finishing = False
        self._polling = False
        self.controller.set_acquiring(False)
        if outcome is not None:
            log.info(
                "run ended: %s, %d volume(s) in %s",
                outcome.status,
                outcome.volumes_saved,
                outcome.folder,
            )
            self.finished.emit(outcome)
