"""The lab's check before touching hardware: run the NI backend against the simulated server.

``rehearse`` plays a waveform set through the real nidaqmx client and the real backend, and
reports what the driver received: tasks, channels and physical names, ranges, rates, triggers,
sample counts, per-channel ranges of the samples, the piezo read-back, and any driver error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lightsheet.hardware.daq.limits import WaveformLimitError
from lightsheet.hardware.daq.nidaqmx_board import NiDaqBoard, device_of
from lightsheet.hardware.daq.protocol import DaqError, DaqSettings
from lightsheet.rehearsal.devices import SimulatedDevice
from lightsheet.rehearsal.recording import Recorder, TaskRecord
from lightsheet.rehearsal.server import serve

_log = logging.getLogger(__name__)


def devices_for(settings: DaqSettings, piezo_lag_ms: float) -> list[SimulatedDevice]:
    """One simulated X-series board per device the config names; the read-back sees the piezo."""
    names = [device_of(out.physical) for out in settings.outputs.values()]
    if settings.readback is not None:
        names.append(device_of(settings.readback.physical))
    devices = []
    for name in dict.fromkeys(names):
        wiring = {}
        readback = settings.readback
        if readback is not None and device_of(readback.physical) == name:
            local = readback.physical.strip("/").split("/", 1)[1]
            wiring[local] = settings.outputs["piezo"].physical.strip("/")
        devices.append(
            SimulatedDevice(name=name, loopback_lag_s=piezo_lag_ms / 1000.0, wiring=wiring)
        )
    return devices


def rehearse(
    daq_cfg: Any,
    channels: Mapping[str, np.ndarray],
    devices: Sequence[SimulatedDevice] | None = None,
) -> str:
    """Run configure, write, start, read piezo, stop through a fresh server; the report."""
    settings = DaqSettings.from_config(daq_cfg)
    simulated = getattr(daq_cfg, "simulated", None)
    lag_ms = float(getattr(simulated, "piezo_lag_ms", 2.0)) if simulated is not None else 2.0
    devices = list(devices) if devices else devices_for(settings, lag_ms)
    server, port, recorder = serve("localhost:0", devices)
    board = NiDaqBoard(f"localhost:{port}")
    failure = None
    readback = None
    steps = (
        ("configure", lambda: board.configure(settings)),
        ("write", lambda: board.write(channels)),
        ("start", board.start),
        ("read piezo", board.read_piezo_um),
        ("stop", board.stop),
    )
    try:
        for step, action in steps:
            try:
                result = action()
            except (DaqError, WaveformLimitError, ValueError) as exc:
                failure = f"FAILED at {step}: {exc}"
                _log.warning("rehearsal %s", failure)
                break
            if step == "read piezo":
                readback = result
    finally:
        board.close()
        server.stop(0)
    return _report(recorder, devices, channels, settings, readback, failure)


def _report(
    recorder: Recorder,
    devices: Sequence[SimulatedDevice],
    channels: Mapping[str, np.ndarray],
    settings: DaqSettings,
    readback: np.ndarray | None,
    failure: str | None,
) -> str:
    lines = [
        f"NI-DAQmx rehearsal on simulated device(s) {', '.join(d.name for d in devices)}",
        f"result: {failure or 'OK'}",
    ]
    static = [t for t in recorder.tasks() if "_static_" in t.name]
    for task in recorder.tasks():
        if task in static:
            continue
        lines.extend(_task_lines(task))
    if static:
        last = {}
        for task in static:
            for ch, row in zip(task.channels, task.writes[-1] if task.writes else [], strict=False):
                last[f"{ch.name} ({ch.physical})"] = float(row[-1])
        values = ", ".join(f"{name} {value:g} V" for name, value in last.items())
        lines.append(f"on-demand (safe/static) tasks: {len(static)}; last values: {values}")
    if readback is not None:
        command = np.asarray(channels["piezo"], dtype=float) * settings.piezo_um_per_v
        worst = float(np.max(np.abs(readback - command))) if readback.size else 0.0
        lines.append(
            f"piezo read-back: {readback.size} samples, {readback.min():.4g} .. "
            f"{readback.max():.4g} µm, largest difference from the command {worst:.4g} µm"
        )
    errors = recorder.errors
    if errors:
        lines.append("driver errors:")
        for e in errors:
            lines.append(f"  {e.rpc} ({e.task}): {e.error}: {' '.join(e.message.splitlines())}")
    else:
        lines.append("driver errors: none")
    outputs = recorder.output_values()
    lines.append(
        "outputs at the end: " + ", ".join(f"{p} {v:g}" for p, v in sorted(outputs.items()))
    )
    return "\n".join(lines)


def _task_lines(task: TaskRecord) -> list[str]:
    lines = [f"task {task.name}: {task.state}, started {task.starts}x"]
    for ch in task.channels:
        if ch.min_v is not None:
            detail = f"[{ch.min_v:g}, {ch.max_v:g}] V"
        elif ch.settings:
            detail = ", ".join(
                f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in ch.settings.items()
            )
        else:
            detail = "digital line"
        lines.append(f"  {ch.kind} {ch.name} = {ch.physical}: {detail}")
    timing = task.timing
    if timing is None:
        lines.append("  timing: on demand")
    elif timing["type"] == "sample_clock":
        source = timing["source"] or "onboard clock"
        lines.append(
            f"  timing: sample clock {timing['rate']:g} Hz from {source}, {timing['sample_mode']}, "
            f"{timing['samps_per_chan']} samples per channel"
        )
    else:
        lines.append(f"  timing: implicit, {timing['sample_mode']}")
    if task.start_trigger is not None:
        lines.append(
            f"  start trigger: {task.start_trigger['source']} ({task.start_trigger['edge']})"
        )
    if task.write_attributes:
        attrs = ", ".join(f"{k} {v}" for k, v in task.write_attributes.items())
        lines.append(f"  write attributes: {attrs}")
    if task.writes:
        last = task.writes[-1]
        lines.append(f"  written {len(task.writes)}x, last {last.shape[1]} samples per channel:")
        for ch, row in zip(task.channels, last, strict=True):
            lines.append(f"    {ch.name}: {row.min():.4g} .. {row.max():.4g}")
    if task.samples_read:
        lines.append(f"  samples read: {task.samples_read}")
    return lines
