"""The one object the widgets talk to: it owns the Session and keeps the Qt thread free.

Session calls that wait for the processes (start, mode changes, new settings, a dark frame,
starting a run) run one at a time on a command thread, so the event loop, the preview and the
status bar never stall behind them; their results come back to the Qt thread as signals. Cheap
reads (status, preview, progress) stay in the Qt thread. Settings follow the latest-wins rule of
the rest of the system: while one config is being applied only the newest waiting one is kept.

After a fault the processes are gone: ``live`` is False until a restart, which brings back the
mode the operator had and announces ``recovered`` so that the old error can be cleared.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from qtpy.QtCore import QObject, Signal

from lightsheet.app.scan_plan import SCAN_MODES
from lightsheet.app.session import Session
from lightsheet.config import RigConfig
from lightsheet.runtime.supervisor import Fault

log = logging.getLogger("lightsheet.gui")

MODES = ("paused", "calibration", "planar", "volumetric")
SessionFactory = Callable[..., Session]
Refused = Callable[[str], None]


class SessionController(QObject):
    """Owner of the Session: serialises its slow calls and reports back through signals."""

    config_changed = Signal(object)  # RigConfig: the rig's settings as the widgets must show them
    mode_changed = Signal(str)
    fault = Signal(object)  # Fault, delivered in the Qt thread
    error = Signal(str)  # a command failed; one line for the operator
    busy_changed = Signal(bool)  # processes are being (re)started or reconfigured
    started = Signal()  # the processes run (first start or after a restart)
    acquisition_changed = Signal(bool)  # a run is in progress (widgets lock themselves)
    recovered = Signal()  # a restart after a fault succeeded: old errors no longer hold
    _deliver = Signal(object, object)  # (callback, future): a finished command, to the Qt thread
    _fault_from_thread = Signal(object, int)  # (Fault, session generation)

    def __init__(
        self,
        config: RigConfig,
        log_dir: Path,
        session_factory: SessionFactory = Session,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.log_dir = Path(log_dir)
        self._config = config
        self._factory = session_factory
        self._generation = 0
        self._session = self._new_session()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-commands")
        self._busy = 0
        self._pending_config: tuple[RigConfig, Refused | None] | None = None
        self._applying = False
        self._acquiring = False
        self._mode = "paused"
        self._closed = False
        self._deliver.connect(self._on_delivered)
        self._fault_from_thread.connect(self._on_fault)

    # -- state seen by the widgets ------------------------------------------------------------

    @property
    def session(self) -> Session:
        return self._session

    @property
    def config(self) -> RigConfig:
        """The settings the rig runs with (or is being switched to)."""
        return self._config

    @property
    def mode(self) -> str:
        """The operator's mode (kept through a fault, restored by a restart)."""
        return self._mode

    def scan_mode_for(self, config: RigConfig) -> str:
        """The scan ``config`` would be checked against now: the mode when it scans, else the
        config's own (what ``Session.apply_config`` checks)."""
        return self._mode if self._mode in SCAN_MODES else config.scanning.mode

    @property
    def busy(self) -> bool:
        """True while processes start, stop or take new settings: shared memory may be replaced."""
        return self._busy > 0

    @property
    def acquiring(self) -> bool:
        return self._acquiring

    @property
    def ready(self) -> bool:
        """The processes run and their shared memory can be read from the Qt thread."""
        return (
            not self._closed
            and not self.busy
            and self._session.process_states() != {}
            and (self._session.fault is None)
        )

    # -- commands -----------------------------------------------------------------------------

    def submit(
        self,
        call: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        busy: bool = False,
    ) -> Future:
        """Run ``call`` on the command thread; ``on_done``/``on_error`` then run in the Qt thread.

        ``busy`` marks calls that may replace shared memory, during which the Qt thread must
        not read it. Errors without an ``on_error`` are reported through :attr:`error`.
        """
        if busy:
            self._set_busy(+1)

        def deliver(result: Any = None, exc: BaseException | None = None) -> None:
            if busy:
                self._set_busy(-1)
            if exc is not None:
                if on_error is not None:
                    on_error(exc)
                else:
                    self._report(exc)
            elif on_done is not None:
                on_done(result)

        future = self._executor.submit(call)
        future.add_done_callback(lambda f: self._deliver.emit(deliver, f))
        return future

    def call_sync(self, call: Callable[[], Any], timeout: float | None = None) -> Any:
        """Run ``call`` on the command thread after everything queued before it, and wait."""
        return self._executor.submit(call).result(timeout)

    def start(self) -> None:
        """Start the processes; :attr:`started` follows."""
        self.submit(self._session.start, lambda _: self._on_started(), busy=True)

    def restart(self) -> None:
        """Replace a stopped or failed session by a fresh one with the current settings; the
        operator's mode comes back with it."""
        if self._acquiring:
            self.error.emit("cannot restart the processes during an acquisition")
            return
        mode, had_fault = self._mode, self._session.fault is not None

        def restart() -> None:
            self._session.close()
            self._session = self._new_session()
            self._session.start()

        def restarted(_: object) -> None:
            self._on_started()
            if mode != "paused":
                self.set_mode(mode)
            if had_fault:
                self.recovered.emit()

        self.submit(restart, restarted, busy=True)

    def set_mode(self, mode: str) -> None:
        """Switch the rig's mode; refused (with the reason) during an acquisition."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        session = self._session
        self.submit(
            lambda: session.set_mode(mode),
            lambda _: self._set_mode(mode),
            lambda exc: self._mode_refused(exc),
        )

    def apply_config(self, config: RigConfig, on_refused: Refused | None = None) -> None:
        """Make ``config`` the rig's settings; the newest of several quick changes wins.

        A change of the viewer section alone never reaches the processes, so contrast and
        colours stay adjustable during an acquisition. When the rig refuses ``config``,
        ``on_refused`` gets the reason and the widgets keep what was typed; without one, the
        reason goes to :attr:`error` and the widgets are shown what runs.
        """
        if config == self._config:
            return
        if _only_viewer_differs(config, self._config):
            self._config = config
            self.config_changed.emit(config)
            return
        if self._acquiring:
            self.error.emit("settings cannot change during an acquisition; stop it first")
            self.config_changed.emit(self._config)  # put the widgets back
            return
        self._pending_config = (config, on_refused)
        if not self._applying:
            self._apply_next()

    def set_acquiring(self, acquiring: bool) -> None:
        """Called by the acquisition runner when a run starts and after it ended."""
        if acquiring != self._acquiring:
            self._acquiring = acquiring
            self.acquisition_changed.emit(acquiring)

    def close(self, timeout_s: float = 60.0) -> None:
        """Stop every process and the command thread; blocks (the window is closing)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.call_sync(self._session.close, timeout_s)
        except Exception:
            log.exception("closing the session failed; closing it from the Qt thread")
            self._session.close()
        self._executor.shutdown(wait=True)

    # -- internals ----------------------------------------------------------------------------

    def _new_session(self) -> Session:
        self._generation += 1
        generation = self._generation
        session = self._factory(
            self._config,
            log_dir=self.log_dir,
            on_fault=lambda fault: self._fault_from_thread.emit(fault, generation),
        )
        session.watch_preview = True  # the window shows the volumes of a run as they come
        return session

    def _apply_next(self) -> None:
        pending, self._pending_config = self._pending_config, None
        if pending is None:
            self._applying = False
            return
        config, on_refused = pending
        self._applying = True
        session = self._session

        def done(_: object) -> None:
            self._config = config
            self.config_changed.emit(config)
            self._apply_next()

        def failed(exc: BaseException) -> None:
            log.warning("config refused: %s", exc)
            if on_refused is not None:
                on_refused(str(exc) or type(exc).__name__)
            else:
                self._report(exc)
                self.config_changed.emit(self._config)  # the widgets show what really runs
            self._apply_next()

        self.submit(lambda: session.apply_config(config), done, failed, busy=True)

    def _on_started(self) -> None:
        self._mode = getattr(self._session, "mode", "paused")
        self.started.emit()
        self.mode_changed.emit(self._mode)

    def _set_mode(self, mode: str) -> None:
        self._mode = mode
        self.mode_changed.emit(mode)

    def _mode_refused(self, exc: BaseException) -> None:
        self._report(exc)
        self.mode_changed.emit(self._mode)  # the mode buttons go back to the real mode

    def _set_busy(self, delta: int) -> None:
        was = self.busy
        self._busy += delta
        if self.busy != was:
            self.busy_changed.emit(self.busy)

    def _report(self, exc: BaseException) -> None:
        log.warning("command failed: %s", exc, exc_info=not isinstance(exc, Exception))
        self.error.emit(str(exc) or type(exc).__name__)

    def _on_delivered(self, deliver: Callable[..., None], future: Future) -> None:
        exc = future.exception()
        if exc is not None:
            deliver(exc=exc)
        else:
            deliver(future.result())

    def _on_fault(self, fault: Fault, generation: int) -> None:
        if generation == self._generation and not self._closed:
            self.fault.emit(fault)


def _only_viewer_differs(a: RigConfig, b: RigConfig) -> bool:
    return a.model_copy(update={"viewer": b.viewer}) == b
