"""``lightsheet acquire``: a headless acquisition on the configured rig (simulated by default)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path

from lightsheet.app.acquisition import POLL_S, Acquisition, Outcome
from lightsheet.app.planning import chunk_bytes
from lightsheet.app.run_folder import RunFolderError, prepare_run_folder
from lightsheet.app.session import Session, SessionConfigError, SessionError
from lightsheet.app.trigger_link import TriggerPortUnusable, check_port
from lightsheet.cli.exit_codes import ExitCode
from lightsheet.cli.interrupts import deferred_interrupts, mark_interrupted, raise_interrupt
from lightsheet.cli.logs_cmd import remember_run
from lightsheet.cli.parser import UsageError, positive_float, positive_int
from lightsheet.cli.processor_options import apply_processor_options, print_processed
from lightsheet.cli.progress import ProgressLine, format_duration
from lightsheet.cli.rig import load_rig
from lightsheet.config import RigConfig
from lightsheet.runtime.logs import setup_process_logging
from lightsheet.storage.space import DiskFull, require_room

_STATUS_EXIT = {
    "completed": ExitCode.OK,
    "dropped": ExitCode.DROPPED,
    "fault": ExitCode.FAULT,
    "interrupted": ExitCode.INTERRUPTED,
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("acquire", help="acquire volumes headless into a run folder")
    parser.add_argument("--config", help="rig config (default: the simulated rig)")
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument("--volumes", type=positive_int, help="number of volumes")
    amount.add_argument(
        "--duration", type=positive_float, metavar="SECONDS", help="acquire for this long"
    )
    parser.add_argument("--out", required=True, help="run folder (must be new or empty)")
    parser.add_argument(
        "--mode",
        choices=("volumetric", "planar"),
        help="scan mode (default: the config's, volumetric)",
    )
    parser.add_argument(
        "--trigger",
        choices=("none", "wait", "send"),
        help="external trigger: wait for the device's TRIGGER, or send ours (default: config)",
    )
    parser.add_argument("--port", help="trigger serial port or pyserial URL (default: config)")
    parser.add_argument(
        "--processor",
        metavar="NAME",
        help="live processor: background, flatfield, mean, max-projection, focus, "
        "package.module:Class or file.py:Class (default: the config's processing.name)",
    )
    parser.add_argument(
        "--processor-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the processor (repeat for several), e.g. frames=8",
    )
    parser.add_argument(
        "--save-processed",
        action="store_true",
        help="also save the processor's results into the run (/processed/NAME in dataset.h5)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run in --out")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = load_rig(args.config)
    if args.mode:
        config.scanning.mode = args.mode
    _apply_trigger_options(config, args)
    apply_processor_options(config, args)
    no_amount = args.volumes is None and args.duration is None
    if no_amount and config.trigger.mode == "none" and config.trigger.duration_s is None:
        raise UsageError("give --volumes N or --duration SECONDS")
    if config.trigger.mode != "none":
        try:
            check_port(config.trigger)  # before the run folder is made
        except TriggerPortUnusable as exc:
            raise UsageError(f"trigger port: {exc}") from None
    try:
        folder = prepare_run_folder(args.out, args.overwrite)
    except RunFolderError as exc:
        raise UsageError(str(exc)) from None
    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        outcome = _run_in(folder, config, args)
    except KeyboardInterrupt:  # during start-up, before the run existed
        mark_interrupted(folder, {"config": config.model_dump(mode="json")})
        sys.stderr.write("lightsheet acquire: interrupted before the run started\n")
        return ExitCode.INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    if isinstance(outcome, ExitCode):
        return outcome  # refused, and stderr says why
    _print_summary(outcome)
    print_processed(outcome.folder)
    return _STATUS_EXIT[outcome.status]


def _run_in(folder: Path, config: RigConfig, args: argparse.Namespace) -> Outcome | ExitCode:
    """Everything from the folder's creation to the run's end.

    An interrupt that escapes is one before the run existed (``_acquire`` handles those after),
    and the caller marks the folder, so that none is left without metadata.json: such a folder
    is neither a run nor empty, and the next ``acquire --out`` into it would be refused.
    """
    remember_run(folder)  # `lightsheet logs` finds the latest run wherever it was written
    try:  # before anything is written: a full disk refuses the run in one line
        scan = config.scanning.mode
        require_room(folder, chunk_bytes(config, scan), "the run's first chunk file")
    except DiskFull as exc:
        sys.stderr.write(f"lightsheet acquire: {exc}\n")
        return ExitCode.FAULT
    setup_process_logging("main", folder / "logs", config.logging.level)
    progress = None if args.quiet else ProgressLine()
    try:
        return _acquire(config, folder, args, progress)
    except SessionConfigError as exc:
        logging.getLogger("lightsheet.cli").error("refused: %s", exc)
        raise UsageError(str(exc)) from None
    except SessionError as exc:
        logging.getLogger("lightsheet.cli").error("acquisition failed: %s", exc)
        sys.stderr.write(f"lightsheet acquire: {exc}\n")
        return ExitCode.FAULT
    finally:
        if progress is not None:
            progress.close()


def _acquire(
    config: RigConfig, folder: Path, args: argparse.Namespace, progress: ProgressLine | None
) -> Outcome:
    """Start, follow and finish the run; an interrupt at any moment ends it cleanly."""
    session = Session(config, log_dir=folder / "logs")
    try:
        session.start()
        acquisition = Acquisition(session, folder, args.volumes, args.duration)
        interrupted = False
        try:
            acquisition.start()
            while not acquisition.ended:
                time.sleep(POLL_S)
                report = acquisition.poll()
                if progress is not None:
                    progress(report)
        except KeyboardInterrupt:
            if acquisition.run is None:
                raise
            interrupted = True
        with deferred_interrupts():
            if interrupted:
                logging.getLogger("lightsheet.cli").warning(
                    "interrupted: stopping the run, saving what was acquired"
                )
                acquisition.interrupt("interrupted")
            return acquisition.finish()
    finally:
        with deferred_interrupts():
            session.close()


def _apply_trigger_options(config, args: argparse.Namespace) -> None:
    """--trigger and --port override the config's trigger section (checked like the config)."""
    if args.trigger is None and args.port is None:
        return
    updates = {}
    if args.trigger is not None:
        updates["mode"] = args.trigger
    if args.port is not None:
        updates["port"] = args.port
    merged = {**config.trigger.model_dump(), **updates}
    if merged["mode"] != "none" and not merged["port"]:
        raise UsageError(f"--trigger {merged['mode']} needs --port PORT (or trigger.port)")
    config.trigger = type(config.trigger).model_validate(merged)


def _print_summary(o: Outcome) -> None:
    print(f"run folder:      {o.folder}")
    print(f"stop reason:     {o.stop_reason}")
    print(f"volumes saved:   {o.volumes_saved}")
    print(f"frames acquired: {o.frames_acquired}")
    print(f"frames dropped:  {o.frames_dropped} (ring full), {o.frames_missing} missing planes")
    print(f"duration:        {format_duration(o.duration_s)}")
    print(f"logs:            {Path(o.folder) / 'logs'}")
