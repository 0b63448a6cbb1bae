"""The status schema of every process: the counters it publishes, the only writer of each.

One module for all of them, so the main process (progress, status bar) and a process that
watches another (the trigger watches the camera's first frame) read the same typed fields.
"""

from __future__ import annotations

from lightsheet.runtime.status import StatusSection, count, level


class CameraStatus(StatusSection):
    prefix = "camera"
    mode = count("0 paused, 1 preview, 2 acquire")
    run = count("the run (or preview epoch) the camera is armed for")
    frames = count("frames read in the current run or preview")
    dropped = count("frames the full ring refused in the current run")
    fps = level("frames per second over the last second")
    last_frame_id = count("id of the newest frame read (-1: none yet)", initial=-1)
    first_frame_id = count("id of the run's first frame (-1: none yet)", initial=-1)
    first_frame_host_ts = level("host time of the run's first frame")


class ScannerStatus(StatusSection):
    prefix = "scanner"
    mode = count("0 paused, 1 calibration, 2 planar, 3 volumetric, 4 measuring")
    running = count("1 while the board regenerates waveforms")
    piezo_um = level("mean measured piezo position of the last period read back")


class DispatcherStatus(StatusSection):
    prefix = "dispatcher"
    volumes = count("volumes handed to the saver in the current run")
    gaps = count("planes handed on empty in the current run")
    copied = count(
        "frames of the current run copied into a volume slot (dark subtracted, or a frame ring "
        "too full to hold them for the saver); the others are written from the camera's slot"
    )
    run_done = count("the last run whose end went to the saver", initial=-1)


class SaverStatus(StatusSection):
    prefix = "saver"
    run_open = count("the run whose files are open (-1: none)", initial=-1)
    run_done = count("the last run whose files are closed", initial=-1)
    volumes = count("volumes written in the current run")
    chunks = count("chunk files completed in the current run")
    bytes = count("bytes of image data written in the current run")
    mbps = level("recent write throughput (MB/s)")
    busy = level("share of the last second spent writing (0..1): near 1, the sink is the limit")


class TriggerStatus(StatusSection):
    prefix = "trigger"
    fired = count("run whose acquisition the trigger started (wait) or that was announced (send)")
    time = level("time.time() of that moment")
    first_frame_id = count("frame id at the trigger (-1: none)", initial=-1)
    duration_s = level("the duration that stands (-1: none)", initial=-1)
    duration_source = count("index into DURATION_SOURCES")
    abort = count("run the device aborted")
    port_lost = count("run during which the link broke")
    ignored = count("messages ignored in this run (wrong moment, garbage)")
    invalid_lines = count("lines that were not valid protocol")


class ProcessorStatus(StatusSection):
    """Written by the live processor, in its own process or in a thread of the main process."""

    prefix = "processor"
    state = count("0 off (no processor or disabled), 1 running, 2 switched off after raising")
    version = count("settings version the processor runs with")
    frames = count("frames processed since the processor started")
    skipped = count("frames not processed, by frame id, between the first and last processed")
    results = count("results produced")
    errors = count("times the processor raised")
    restarts = count("times it was rebuilt after raising (on_error: restart)")
    fps = level("frames processed per second over the last second")
    last_frame_id = count("id of the newest frame processed (-1: none)", initial=-1)
    latency_ms = level("frame arrival to result ready, newest result (milliseconds)")


SCHEMAS = (
    CameraStatus, ScannerStatus, DispatcherStatus, SaverStatus, TriggerStatus, ProcessorStatus,
)
