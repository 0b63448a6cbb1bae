"""One acquisition from start to files closed, with metadata that says exactly what happened.

Used by ``lightsheet acquire`` (and by the GUI through the same Session calls). Ctrl-C and SIGTERM
end the run cleanly: every frame already acquired is saved before the files close.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lightsheet.app.session import Progress, Session
from lightsheet.storage.metadata import now_iso, software_versions, write_metadata
from lightsheet.storage.run_reader import summarize_run
from lightsheet.storage.virtual import complete_chunks, rebuild_dataset

log = logging.getLogger("lightsheet.acquisition")

DRAIN_TIMEOUT_S = 60.0
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


class Acquisition:
    """One run, polled by its owner: the CLI's loop or the GUI's timer."""

    def __init__(
        self,
        session: Session,
        folder: Path,
        volumes: int | None = None,
        duration_s: float | None = None,
        extra_metadata: dict | None = None,
    ) -> None:
        self.session = session
        self.folder = Path(folder)
        self._volumes = volumes
        self._duration_s = duration_s
        self.metadata = {
            "versions": software_versions(),
            "host": platform.node(),
            "config": session.config.model_dump(mode="json"),
            "start_time": None,
            "stop_time": None,
            "stop_reason": "running",
            "mode": session.config.scanning.mode,
            "frames_acquired": 0,
            "frames_dropped": 0,
            "frames_missing": 0,
            "volumes_saved": 0,
            **(extra_metadata or {}),
        }
        self._interrupted = False
        self.progress: Progress | None = None
        self.outcome: Outcome | None = None

    def start(self) -> None:
        self.metadata["start_time"] = now_iso()
        write_metadata(self.folder, self.metadata)
        try:
            run = self.session.start_acquisition(
                self.folder, volumes=self._volumes, duration_s=self._duration_s
            )
        except BaseException as exc:
            self.metadata.update(stop_time=now_iso(), stop_reason=f"failed to start: {exc}")
            write_metadata(self.folder, self.metadata)
            raise
        self.metadata.update(
            volumes_requested=run.volumes_target,
            frame_shape=list(self.session.frame_shape),
            planes_per_volume=self.session.planes_per_volume,
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
        """Wait for the files to close if needed, then write the final metadata."""
        session = self.session
        if not self.ended:
            session.wait_run_saved(DRAIN_TIMEOUT_S)
        progress = self.poll()
        fault = session.fault
        if fault is None:
            session.end_run()  # the files are closed: the rig goes back to the operator's mode
        else:
            # Let the supervisor finish its ordered shutdown so the saver has closed its files.
            session.close()
            # The saver may have died between a chunk's rename and the index update: index
            # every complete chunk file again, so what is on disk is what the dataset shows.
            _reindex(self.folder)
        stop_reason, status = self._how_it_ended(fault)
        saved = summarize_run_volumes(self.folder)
        dropped, missing = progress.frames_dropped, progress.frames_missing
        if status == "completed" and (dropped or missing):
            status = "dropped"
        self.metadata.update(
            stop_time=now_iso(),
            stop_reason=stop_reason,
            frames_acquired=progress.frames_acquired,
            frames_dropped=dropped,
            frames_missing=missing,
            volumes_saved=saved,
            duration_s=round(progress.elapsed_s, 3),
            process_states=session.process_states(),
        )
        trigger = session.trigger_info()
        if trigger is not None:
            self.metadata["trigger"] = trigger
        write_metadata(self.folder, self.metadata)
        log.info("run finished: %s, %d volume(s) saved", stop_reason, saved)
        self.outcome = Outcome(
            status,
            stop_reason,
            saved,
            progress.frames_acquired,
            dropped,
            missing,
            self.folder,
            progress.elapsed_s,
        )
        return self.outcome


    def _how_it_ended(self, fault) -> tuple[str, str]:
        """(stop_reason, status) of the run."""
        run = self.session.run
        if fault is not None:
            return f"fault: {fault.process}: {fault.reason}", "fault"
        if run.failure is not None:
            return f"fault: {run.failure}", "fault"
        if self._interrupted:
            return "interrupted", "interrupted"
        return run.stop_reason or "completed", "completed"


def run_acquisition(
    session: Session,
    folder: Path,
    volumes: int | None,
    duration_s: float | None,
    on_progress: Callable[[Progress], None] | None = None,
    extra_metadata: dict | None = None,
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


def _reindex(folder: Path) -> None:
    try:
        if complete_chunks(folder):
            rebuild_dataset(folder)
    except (OSError, ValueError) as exc:
        log.error("could not index the complete chunk files again: %s", exc)


def summarize_run_volumes(folder: Path) -> int:
    """Volumes really on disk in completed chunk files: never the target."""
    return summarize_run(folder).volumes_saved
