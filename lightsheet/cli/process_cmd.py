"""``lightsheet process``: correct, bin and project a saved run into a new run, in parallel.

Ctrl-C (or SIGTERM) cancels: workers finish the item in hand and stop, the files written so far
are closed whole, the new run's metadata says how far it got, and the exit code is 130. A second
Ctrl-C while that happens gives up waiting.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from tqdm import tqdm

from lightsheet.app.run_folder import RunFolderError, prepare_run_folder
from lightsheet.cli.exit_codes import ExitCode
from lightsheet.cli.interrupts import mark_interrupted
from lightsheet.cli.parser import UsageError, positive_int
from lightsheet.cli.progress import format_duration
from lightsheet.postprocess import ENGINES, Outcome, ProcessingInputError, ProcessOptions, Step
from lightsheet.postprocess.plan import Plan, make_plan
from lightsheet.postprocess.run import Engine, execute, open_engine
from lightsheet.runtime.logs import setup_process_logging

_STATUS_EXIT = {
    "completed": ExitCode.OK,
    "interrupted": ExitCode.INTERRUPTED,
    "fault": ExitCode.FAULT,
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "process", help="correct, bin and project a saved run into a new run, in parallel"
    )
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("--out", required=True, metavar="DIR", help="new run folder")
    parser.add_argument("--dark", metavar="FILE|RUN", help="dark image (.npy, TIFF) or run")
    parser.add_argument("--flat", metavar="FILE|RUN", help="flat image (.npy, TIFF) or run")
    parser.add_argument(
        "--max-projection", action="store_true", help="add /max_projection (t, y, x)"
    )
    parser.add_argument("--bin", type=positive_int, default=1, metavar="N", help="bin N × N")
    parser.add_argument("--workers", type=positive_int, metavar="N", help="default: every core")
    parser.add_argument(
        "--scheduler", metavar="ADDRESS", help="run on this dask scheduler (tcp://host:port)"
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="auto: threads on shared memory if the run fits in RAM, else dask (LocalCluster)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run in --out")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        options = ProcessOptions(
            run_dir=Path(args.run_dir),
            out_dir=Path(args.out),
            dark=Path(args.dark) if args.dark else None,
            flat=Path(args.flat) if args.flat else None,
            max_projection=args.max_projection,
            bin_factor=args.bin,
            workers=args.workers,
            scheduler=args.scheduler,
            engine=args.engine,
        )
        plan = make_plan(options)
        with open_engine(plan) as engine:
            try:
                folder = prepare_run_folder(args.out, args.overwrite)
            except RunFolderError as exc:
                raise UsageError(str(exc)) from None
            try:
                outcome = _process_into(folder, plan, engine, args)
            except KeyboardInterrupt:  # before its metadata, or a second Ctrl-C gave up waiting
                mark_interrupted(folder, {"kind": "processed", "source_run": args.run_dir})
                sys.stderr.write("lightsheet process: interrupted\n")
                return ExitCode.INTERRUPTED
    except ProcessingInputError as exc:
        raise UsageError(str(exc)) from None
    _print_summary(outcome)
    if outcome.status == "fault":
        sys.stderr.write(f"lightsheet process: {outcome.stop_reason}\n")
    return _STATUS_EXIT[outcome.status]


def _process_into(folder: Path, plan: Plan, engine: Engine, args: argparse.Namespace) -> Outcome:
    """Everything after the output folder exists; an interrupt that escapes it is marked in
    the folder by the caller, since a folder left without metadata.json is refused by the next
    ``--out`` into it, even with ``--overwrite``."""
    setup_process_logging("process", folder / "logs", "INFO")
    with _Bars(disable=args.quiet) as bars, _CancelOnSignal() as cancel:
        return execute(plan, engine, folder, bars, cancel)


class _Bars:
    """One tqdm bar per phase, with items per second."""

    def __init__(self, disable: bool) -> None:
        self._disable = disable
        self._bar: tqdm | None = None
        self._phase = ""

    def __call__(self, step: Step) -> None:
        if self._bar is None or step.phase != self._phase:
            self.close()
            self._phase = step.phase
            self._bar = tqdm(
                total=step.total,
                desc=step.phase,
                unit=step.unit,
                disable=self._disable,
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=0.5,
            )
        self._bar.update(step.done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> _Bars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _CancelOnSignal:
    """SIGINT/SIGTERM set the cancel event (a second one raises KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: object) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        sys.stderr.write("\nlightsheet process: cancelling (finishing the items in hand)\n")
        self.event.set()

    def __enter__(self) -> threading.Event:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self.event

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _print_summary(o: Outcome) -> None:
    print(f"run folder:    {o.out_dir}")
    print(f"source run:    {o.metadata.get('source_run')}")
    print(f"operations:    {', '.join(op['op'] for op in o.metadata.get('operations', []))}")
    print(f"engine:        {o.engine}")
    print(f"stop reason:   {o.stop_reason}")
    print(f"volumes saved: {o.volumes_saved} of {o.volumes_total}")
    print(f"duration:      {format_duration(o.duration_s)}")
