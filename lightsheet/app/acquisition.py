"""One acquisition from start to files closed, with metadata that says exactly what happened.

Used by ``lightsheet acquire`` and by the GUI through the same calls. Ctrl-C and SIGTERM end the
run cleanly: every frame already acquired is saved before the files close.

Where the final numbers come from: a run that ended normally has the saver's report, carried
in-band with its end marker (they are that run's, whatever the rig did after). A run cut off (a
process died, or the saver did not close the files in time) is finished by the ordered shutdown
first, and its numbers are read afterwards: the camera's counters as it left them and, for what
was saved, the files themselves.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lightsheet.analysis import timing_section
from lightsheet.app.errors import SessionError
from lightsheet.app.planning import chunk_bytes
from lightsheet.app.runs import Progress, Run
from lightsheet.app.session import Session
from lightsheet.processes.commands import RunClosed
from lightsheet.storage.direct_planes import PlanesByWay
from lightsheet.storage.metadata import now_iso, software_versions, write_metadata
from lightsheet.storage.run_reader import RunError, iter_frames_table, summarize_run
from lightsheet.storage.salvage import salvage_partial_chunks
from lightsheet.storage.space import DiskFull, require_room
from lightsheet.storage.virtual import complete_chunks, rebuild_dataset

log = logging.getLogger("lightsheet.acquisition")

DRAIN_TIMEOUT_S = 60.0
CAUSE_WAIT_S = 10.0  # a saver that cut a run off reports the fault that says why just after
POLL_S = 0.1


@dataclass(frozen=True)
class Outcome:
    """How a run ended: completed, dropped (completed with drops), fault or interrupted."""

    status: str
    stop_reason: str
    volumes_saved: int
    frames_acquired: int
    frames_dropped: int
    frames_missing: int
    folder: Path
    duration_s: float
    frames_saved: int = 0


@dataclass(frozen=True)
class RunNumbers:
    frames_acquired: int  # by the camera's own frame counter
    frames_dropped: int  # refused by a full frame ring
    frames_missing: int  # planes saved empty
    frames_saved: int  # planes saved with their frame
    volumes_saved: int  # in completed chunk files


class Acquisition:
    """One run, polled by its owner: the CLI's loop or the GUI's timer."""

    def __init__(
        self,
        session: Session,
        folder: Path,
        volumes: int | None = None,
        duration_s: float | None = None,
        extra_metadata: dict[str, Any] | None = None,
        drain_timeout_s: float = DRAIN_TIMEOUT_S,
    ) -> None:
        self.session = session
        self.folder = Path(folder)
        self._volumes = volumes
        self._duration_s = duration_s
        self._drain_timeout_s = drain_timeout_s
        self.metadata: dict[str, Any] = {
            "versions": software_versions(),
            "host": platform.node(),
            "config": session.config.model_dump(mode="json"),
            "start_time": None,
            "stop_time": None,
            "stop_reason": "running",
            "mode": session.scan_mode,
            "frames_acquired": 0,
            "frames_dropped": 0,
            "frames_missing": 0,
            "volumes_saved": 0,
            **(extra_metadata or {}),
        }
        if session.processing.processor is not None:
            self.metadata["processing"] = session.processing.describe()
        self._interrupted = False
        self.run: Run | None = None
        self.progress: Progress | None = None
        self.outcome: Outcome | None = None

    def start(self) -> None:
        """Start the run; refused before anything is written when the disk cannot hold a chunk."""
        session = self.session
        try:
            need = chunk_bytes(session.config, session.scan_mode)
            require_room(self.folder, need, "the run's first chunk file")
        except DiskFull as exc:
            raise SessionError(str(exc)) from None
        self.metadata["start_time"] = now_iso()
        write_metadata(self.folder, self.metadata)
        try:
            run = session.start_acquisition(
                self.folder, volumes=self._volumes, duration_s=self._duration_s
            )
        except BaseException as exc:
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"failed to start: {exc}"
            self.metadata.update(stop_time=now_iso(), stop_reason=why)
            write_metadata(self.folder, self.metadata)
            raise
        self.run = run
        self.metadata.update(
            run=run.run,
            mode=run.scan_mode,
            volumes_requested=run.volumes_target,
            frame_shape=list(self.session.frame_shape),
            planes_per_volume=run.plan.planes,
        )
        write_metadata(self.folder, self.metadata)
        self.progress = self.session.progress()

    def poll(self) -> Progress:
        self.progress = self.session.progress()
        return self.progress

    @property
    def ended(self) -> bool:
        """True once the saver closed the run, or a fault ended it."""
        p = self.progress
        return p is not None and (p.done or p.fault is not None)

    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop early (Ctrl-C, the GUI's stop button, the trigger's ABORT): data is kept."""
        self._interrupted = reason == "interrupted"
        self.session.stop_acquisition(reason)

    def finish(self) -> Outcome:
        """Wait for the files to close, or cut the run off; then write the final metadata."""
        session, run = self.session, self.run
        assert run is not None, "finish() before start()"
        drained = run.closed or session.wait_run_saved(self._drain_timeout_s)
        if not drained and session.fault is None:
            run.failure = f"saver: did not close the run's files within {self._drain_timeout_s:g} s"
            log.error("run %d: %s", run.run, run.failure)
        if run.report is not None and not run.report.ended:
            self._await_cause(run)
        stop_reason, status = self._how_it_ended(run)
        elapsed = time.monotonic() - run.started_monotonic
        if run.closed and session.fault is None:
            self._finish_processed(run)  # before the rig goes back to previewing
            session.end_run()  # the files are closed: the rig goes back to the operator's mode
        else:
            # The ordered shutdown lets the dispatcher hand on what it holds and the saver close
            # its files; only then are the numbers final.
            session.close()
            _reindex(self.folder)
            self._finish_processed(run)
        numbers = self._numbers(run)
        if status == "completed" and (numbers.frames_dropped or numbers.frames_missing):
            status = "dropped"
        self._write_final(run, stop_reason, numbers, elapsed)
        log.info("run finished: %s, %d volume(s) saved", stop_reason, numbers.volumes_saved)
        self.outcome = Outcome(
            status, stop_reason, numbers.volumes_saved, numbers.frames_acquired,
            numbers.frames_dropped, numbers.frames_missing, self.folder, elapsed,
            numbers.frames_saved,
        )  # fmt: skip
        return self.outcome

    def _await_cause(self, run: Run) -> None:
        """The saver closed the run without its end marker: it does so only on its way down (a
        full disk, a run replaced before its end), and the fault that says why reaches the
        session just after its report. Wait for it, bounded; a cut-off run is never completed.
        """
        deadline = time.monotonic() + CAUSE_WAIT_S
        while self.session.fault is None and time.monotonic() < deadline:
            time.sleep(POLL_S)
        if self.session.fault is None:
            run.failure = "saver: closed the run's files before the run's end"
            log.error("run %d: %s", run.run, run.failure)

    def _finish_processed(self, run: Run) -> None:
        """A live processor's results of the run: completed, mapped into dataset.h5, counted.

        They never change the run's status: the raw data is complete without them.
        """
        processing = self.session.processing
        report = run.report
        frames = report.frames_acquired if report is not None and report.ended else None
        saved = processing.finish_run(run.run, frames, self.folder)
        if "processing" not in self.metadata and not saved:
            return
        section = self.metadata.setdefault("processing", processing.describe())
        section["saved"] = {name: summary.as_dict() for name, summary in saved.items()}
        stats = processing.stats()
        if stats.where:  # still running: its counts since it started
            section["since_start"] = {"frames_processed": stats.frames,
                                      "frames_skipped": stats.skipped, "errors": stats.errors}

    def _how_it_ended(self, run: Run) -> tuple[str, str]:
        """(stop_reason, status) of the run: the first cause wins."""
        fault = self.session.fault
        if fault is not None:
            return f"fault: {fault.process}: {fault.reason}", "fault"
        if run.failure is not None:
            return f"fault: {run.failure}", "fault"
        if self._interrupted:
            return "interrupted", "interrupted"
        return run.stop_reason or "completed", "completed"

    def _numbers(self, run: Run) -> RunNumbers:
        present = _present_rows(self.folder)
        saved = summarize_run_volumes(self.folder)
        report = run.report
        if report is not None and report.ended:
            return RunNumbers(
                report.frames_acquired, report.frames_dropped, report.frames_missing,
                int(present.sum()), saved,
            )  # fmt: skip
        # Cut off: the camera's counters as it left them, and what the files hold.
        status = self.session.last_status()
        ours = status.get("camera.run") == run.run
        acquired = int(status["camera.last_frame_id"]) + 1 if ours else 0
        dropped = int(status["camera.dropped"]) if ours else 0
        return RunNumbers(acquired, dropped, int((~present).sum()), int(present.sum()), saved)

    def _write_final(self, run: Run, stop_reason: str, n: RunNumbers, elapsed: float) -> None:
        self.metadata.update(
            stop_time=now_iso(),
            stop_reason=stop_reason,
            frames_acquired=n.frames_acquired,
            frames_dropped=n.frames_dropped,
            frames_missing=n.frames_missing,
            frames_saved=n.frames_saved,
            frames_not_saved=max(n.frames_acquired - n.frames_saved - n.frames_missing, 0),
            volumes_saved=n.volumes_saved,
            duration_s=round(elapsed, 3),
            process_states=self.session.process_states(),
        )
        trigger = self.session.trigger_info()
        if trigger is not None:
            self.metadata["trigger"] = trigger
        if run.report is not None:
            self.metadata["saver"] = _saver_section(run.report)
        write_metadata(self.folder, self.metadata)  # the numbers first: the timing reads them
        self.metadata["timing"] = timing_section(self.folder)
        write_metadata(self.folder, self.metadata)


def run_acquisition(
    session: Session,
    folder: Path,
    volumes: int | None,
    duration_s: float | None,
    on_progress: Callable[[Progress], None] | None = None,
    extra_metadata: dict[str, Any] | None = None,
) -> Outcome:
    """Acquire into a prepared folder; blocks until the files are closed or a fault ends it."""
    acquisition = Acquisition(session, folder, volumes, duration_s, extra_metadata)
    acquisition.start()
    try:
        while not acquisition.ended:
            time.sleep(POLL_S)
            progress = acquisition.poll()
            if on_progress is not None:
                on_progress(progress)
    except KeyboardInterrupt:
        log.warning("interrupted: stopping the run, saving what was acquired")
        acquisition.interrupt("interrupted")
    return acquisition.finish()


def _saver_section(report: RunClosed) -> dict[str, Any]:
    """What the saver wrote, how (the way each uncompressed plane went) and how long it spent
    writing: the sink's speed in this run, which says whether the sink (writing most of the run)
    or something else limited it."""
    section: dict[str, Any] = {
        "bytes_written": report.bytes_written, "write_s": round(report.write_s, 6),
    }  # fmt: skip
    if sum(report.planes_by_way):
        ways = zip(PlanesByWay._fields, report.planes_by_way, strict=True)
        section["planes_written"] = dict(ways)
    if report.write_s > 0:
        # Four significant figures: a tiny run on a loaded machine writes at 0.0003 GB/s, which
        # three decimals recorded as 0.0.
        section["write_gbps"] = float(f"{report.bytes_written / report.write_s / 1e9:.4g}")
    return section


def _reindex(folder: Path) -> None:
    """After a cut-off run: publish what a dead saver finished, index every complete chunk."""
    try:
        salvage_partial_chunks(folder)
        if complete_chunks(folder):
            rebuild_dataset(folder)
    except (OSError, ValueError) as exc:
        log.error("could not index the complete chunk files again: %s", exc)


def _present_rows(folder: Path) -> np.ndarray:
    """The ``present`` column of every saved plane (empty when nothing was saved)."""
    try:
        return iter_frames_table(folder)["present"].astype(bool)
    except (RunError, OSError, KeyError):
        return np.zeros(0, dtype=bool)


def summarize_run_volumes(folder: Path) -> int:
    """Volumes really on disk in completed chunk files: never the target."""
    return summarize_run(folder).volumes_saved
