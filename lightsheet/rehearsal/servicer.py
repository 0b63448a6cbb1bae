"""The part of the NI-DAQmx gRPC service that the lightsheet NI backend uses, simulated.

Implements the RPCs the nidaqmx client sends for the backend's tasks (found by running the
backend against the server): task creation, AO/AI voltage, DO line and CO pulse channels,
sample-clock and implicit timing, digital-edge start triggers, regeneration and counter
attributes, analog and digital writes, start/stop/control/clear, analog reads, and the getters the
client asks before writing or reading. Every call and every refusal is recorded; refusals go back
the way the NI gRPC Device Server sends them (status code in the ``ni-error`` trailing metadata),
so the client raises ``nidaqmx.DaqError`` with the driver's code.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Any

import grpc
import numpy as np
from nidaqmx._stubs import nidaqmx_pb2 as pb
from nidaqmx._stubs import nidaqmx_pb2_grpc as pb_grpc
from nidaqmx.constants import (
    AcquisitionType,
    ChannelType,
    Edge,
    FillMode,
    Level,
    LineGrouping,
    RegenerationMode,
    TaskMode,
)
from nidaqmx.error_codes import DAQmxErrors
from session_pb2 import Session

from lightsheet.hardware.daq.simulated import periodic_lag_response
from lightsheet.rehearsal.devices import DeviceSet, DriverError, unsupported_value
from lightsheet.rehearsal.recording import ChannelRecord, Recorder, TaskRecord

DRIVER_VERSION = {0x1272: 24, 0x1923: 5, 0x2F22: 0}  # major, minor, update
_TASK_NAME, _TASK_CHANNELS, _TASK_NUM_CHANS = 0x1276, 0x1273, 0x2181
_CHAN_TYPE = 0x187F
_WRITE_REGEN_MODE, _WRITE_NUM_CHANS, _WRITE_DO_BOOLEANS_PER_CHAN = 0x1453, 0x217E, 0x217F
_READ_NUM_CHANS = 0x217B
_READ_AVAIL_SAMP_PER_CHAN = 0x1223
_CO_ATTRIBUTES = {0x1178: "freq", 0x1176: "duty_cycle", 0x299: "initial_delay"}
_CHANNEL_TYPES = {
    "ao_voltage": ChannelType.ANALOG_OUTPUT,
    "ai_voltage": ChannelType.ANALOG_INPUT,
    "do_line": ChannelType.DIGITAL_OUTPUT,
    "co_pulse_freq": ChannelType.COUNTER_OUTPUT,
}
_RATE_KIND = {"ao_voltage": "ao", "ai_voltage": "ai", "do_line": "do"}
_READ_POLL_S = 0.02


def _enum(request: Any, name: str) -> int:
    """A field the client may send as the enum or as its ``_raw`` integer."""
    if f"{name}_enum" in request.DESCRIPTOR.oneofs_by_name:
        which = request.WhichOneof(f"{name}_enum")
        return int(getattr(request, which)) if which else 0
    return int(getattr(request, name))


def _label(enum_type: Any, raw: int) -> str:
    try:
        return enum_type(raw).name.lower()
    except ValueError:
        return str(raw)


def _rpc(method: Callable[..., Any]) -> Callable[..., Any]:
    """Record the call, and turn a DriverError into the status the real server sends."""

    @functools.wraps(method)
    def handler(self: SimulatedNiDaqmxServicer, request: Any, context: grpc.ServicerContext) -> Any:
        task = request.task.name if "task" in request.DESCRIPTOR.fields_by_name else None
        try:
            response = method(self, request)
        except DriverError as exc:
            self.record(method.__name__, task, exc)
            metadata = [("ni-error", str(int(exc.code)))]
            if method.__name__.startswith("Read"):
                metadata.append(("ni-samps-per-chan-read", "0"))
            context.set_trailing_metadata(tuple(metadata))
            context.abort(grpc.StatusCode.UNKNOWN, exc.message)
        self.record(method.__name__, task)
        return response

    return handler


class SimulatedNiDaqmxServicer(pb_grpc.NiDAQmxServicer):
    """Simulated driver state behind the gRPC service; inspect it through ``recorder``."""

    def __init__(self, devices: DeviceSet, recorder: Recorder) -> None:
        self.devices = devices
        self.recorder = recorder
        self._unnamed = 0
        self._lag_cache: dict[tuple[str, int, int], np.ndarray] = {}

    def record(self, rpc: str, task: str | None, error: DriverError | None = None) -> None:
        from lightsheet.rehearsal.recording import CallRecord

        with self.recorder.lock:
            self.recorder.calls.append(
                CallRecord(
                    rpc,
                    task,
                    None if error is None else int(error.code),
                    "" if error is None else error.message,
                )
            )

    # -- system and tasks ---------------------------------------------------------------------

    @_rpc
    def GetSystemInfoAttributeUInt32(self, request: Any) -> Any:
        attribute = _enum(request, "attribute")
        if attribute not in DRIVER_VERSION:
            raise self._unsupported_attribute(attribute)
        return pb.GetSystemInfoAttributeUInt32Response(value=DRIVER_VERSION[attribute])

    @_rpc
    def GetErrorString(self, request: Any) -> Any:
        return pb.GetErrorStringResponse(error_string=error_string(request.error_code))

    @_rpc
    def CreateTask(self, request: Any) -> Any:
        rec = self.recorder
        with rec.lock:
            name = request.session_name
            if not name:
                name = f"_unnamedTask<{self._unnamed}>"
                self._unnamed += 1
            behavior = _enum(request, "initialization_behavior")
            if name in rec.live:
                if behavior == 1:  # initialize a new session only
                    raise DriverError(
                        DAQmxErrors.DUPLICATE_TASK,
                        f"Task cannot be created because a task with this name already exists."
                        f"\nTask Name: {name}",
                    )
                return pb.CreateTaskResponse(task=Session(name=name))
            if behavior == 2:  # attach to an existing session only
                raise DriverError(DAQmxErrors.INVALID_TASK, f"Task not found.\nTask Name: {name}")
            task = TaskRecord(name=name)
            rec.live[name] = task
            rec.history.append(task)
        return pb.CreateTaskResponse(task=Session(name=name), new_session_initialized=True)

    @_rpc
    def ClearTask(self, request: Any) -> Any:
        with self.recorder.lock:
            task = self._task(request)
            if task.state == "running":
                self._stop(task)
            task.state = "cleared"
            del self.recorder.live[task.name]
        return pb.ClearTaskResponse()

    @_rpc
    def GetTaskAttributeString(self, request: Any) -> Any:
        attribute = _enum(request, "attribute")
        with self.recorder.lock:
            task = self._task(request)
            if attribute == _TASK_NAME:
                return pb.GetTaskAttributeStringResponse(value=task.name)
            if attribute == _TASK_CHANNELS:
                names = ", ".join(ch.name for ch in task.channels)
                return pb.GetTaskAttributeStringResponse(value=names)
        raise self._unsupported_attribute(attribute)

    @_rpc
    def GetTaskAttributeUInt32(self, request: Any) -> Any:
        attribute = _enum(request, "attribute")
        with self.recorder.lock:
            task = self._task(request)
            if attribute == _TASK_NUM_CHANS:
                return pb.GetTaskAttributeUInt32Response(value=len(task.channels))
        raise self._unsupported_attribute(attribute)

    @_rpc
    def GetChanAttributeInt32(self, request: Any) -> Any:
        attribute = _enum(request, "attribute")
        with self.recorder.lock:
            channel = self._channels(self._task(request), request.channel)[0]
            if attribute == _CHAN_TYPE:
                return pb.GetChanAttributeInt32Response(
                    value_raw=_CHANNEL_TYPES[channel.kind].value
                )
        raise self._unsupported_attribute(attribute)

    # -- channels -----------------------------------------------------------------------------

    @_rpc
    def CreateAOVoltageChan(self, request: Any) -> Any:
        self._add_voltage(request, "ao", request.physical_channel)
        return pb.CreateAOVoltageChanResponse()

    @_rpc
    def CreateAIVoltageChan(self, request: Any) -> Any:
        self._add_voltage(request, "ai", request.physical_channel)
        return pb.CreateAIVoltageChanResponse()

    @_rpc
    def CreateDOChan(self, request: Any) -> Any:
        with self.recorder.lock:
            task = self._task(request)
            self._check_idle(task)
            lines = self.devices.resolve(request.lines, "line")
            grouping = _enum(request, "line_grouping")
            if grouping == LineGrouping.CHAN_FOR_ALL_LINES.value and len(lines) > 1:
                raise DriverError(
                    DAQmxErrors.INVALID_ATTRIBUTE_VALUE,
                    "The simulated device supports one digital line per channel; "
                    "use one channel for each line.",
                )
            names = _assigned_names(request.name_to_assign_to_lines, lines)
            for physical, name in zip(lines, names, strict=True):
                self._append_channel(task, ChannelRecord("do_line", physical, name))
                self.recorder.held.setdefault(physical, 0.0)
        return pb.CreateDOChanResponse()

    @_rpc
    def CreateCOPulseChanFreq(self, request: Any) -> Any:
        with self.recorder.lock:
            task = self._task(request)
            self._check_idle(task)
            counters = self.devices.resolve(request.counter, "ctr")
            settings = {
                "freq": request.freq,
                "duty_cycle": request.duty_cycle,
                "initial_delay": request.initial_delay,
                "idle_state": _label(Level, _enum(request, "idle_state")),
            }
            for physical, name in zip(
                counters,
                _assigned_names(request.name_to_assign_to_channel, counters),
                strict=True,
            ):
                for key in ("freq", "duty_cycle", "initial_delay"):
                    self._check_counter_value(physical, key, float(settings[key]))
                channel = ChannelRecord("co_pulse_freq", physical, name, settings=dict(settings))
                self._append_channel(task, channel)
                self.recorder.held[physical] = 1.0 if settings["idle_state"] == "high" else 0.0
        return pb.CreateCOPulseChanFreqResponse()

    @_rpc
    def SetChanAttributeDouble(self, request: Any) -> Any:
        attribute = _enum(request, "attribute")
        key = _CO_ATTRIBUTES.get(attribute)
        with self.recorder.lock:
            task = self._task(request)
            channels = self._channels(task, request.channel)
            if key is None or any(ch.kind != "co_pulse_freq" for ch in channels):
                raise self._unsupported_attribute(attribute)
            for channel in channels:
                self._check_counter_value(channel.physical, key, request.value)
                channel.settings[key] = request.value
        return pb.SetChanAttributeDoubleResponse()

    # -- timing, triggers, attributes ---------------------------------------------------------

    @_rpc
    def CfgSampClkTiming(self, request: Any) -> Any:
        with self.recorder.lock:
            task = self._task(request)
            self._check_idle(task)
            if not task.channels:
                raise DriverError(
                    DAQmxErrors.INVALID_TASK, f"Task contains no channels.\nTask Name: {task.name}"
                )
            kind = _RATE_KIND.get(task.channels[0].kind)
            if kind is None:
                raise DriverError(
                    DAQmxErrors.INVALID_ATTRIBUTE_VALUE,
                    "Sample clock timing is not supported for counter output tasks; "
                    "use implicit timing.",
                )
            device = self.devices.device(task.channels[0].physical)
            max_rate = device.max_rate_hz(kind)
            if not 0 < request.rate <= max_rate:
                raise unsupported_value(
                    "DAQmx_SampClk_Rate",
                    request.rate,
                    f"Maximum Value: {max_rate:g}\nMinimum Value: 0 (exclusive)",
                )
            source = request.source.strip()
            if source and source.lower() != "onboardclock":
                source = self.devices.terminal(source)
            if request.samps_per_chan < 0:
                raise unsupported_value(
                    "DAQmx_SampQuant_SampPerChan", request.samps_per_chan, "Minimum Value: 1"
                )
            task.timing = {
                "type": "sample_clock",
                "rate": request.rate,
                "source": source,
                "active_edge": _label(Edge, _enum(request, "active_edge")),
                "sample_mode": _label(AcquisitionType, _enum(request, "sample_mode")),
                "samps_per_chan": request.samps_per_chan,
            }
        return pb.CfgSampClkTimingResponse()

    @_rpc
    def CfgImplicitTiming(self, request: Any) -> Any:
        with self.recorder.lock:
            task = self._task(request)
            self._check_idle(task)
            task.timing = {
                "type": "implicit",
                "sample_mode": _label(AcquisitionType, _enum(request, "sample_mode")),
                "samps_per_chan": request.samps_per_chan,
            }
        return pb.CfgImplicitTimingResponse()

    @_rpc
    def CfgDigEdgeStartTrig(self, request: Any) -> Any:
        with self.recorder.lock:
            task = self._task(request)
            self._check_idle(task)
            task.start_trigger = {
                "source": self.devices.terminal(request.trigger_source),
                "edge": _label(Edge, _enum(request, "trigger_edge")),
            }
        return pb.CfgDigEdgeStartTrigResponse()

    @_rpc
    def SetWriteAttributeInt32(self, request: Any) -> Any:
        attribute = _enum(request, "attribute")
        value = _enum(request, "value")
        with self.recorder.lock:
            task = self._task(request)
            if attribute != _WRITE_REGEN_MODE:
                raise self._unsupported_attribute(attribute)
            try:
                task.write_attributes["regen_mode"] = RegenerationMode(value).name.lower()
            except ValueError:
                raise unsupported_value("DAQmx_Write_RegenMode", value, "") from None
        return pb.SetWriteAttributeInt32Response()

    @_rpc
    def GetWriteAttributeUInt32(self, request: Any) -> Any:
        attribute = _enum(request, "attribute")
        with self.recorder.lock:
            task = self._task(request)
            if attribute == _WRITE_DO_BOOLEANS_PER_CHAN:
                return pb.GetWriteAttributeUInt32Response(value=1)
            if attribute == _WRITE_NUM_CHANS:
                return pb.GetWriteAttributeUInt32Response(value=len(task.channels))
        raise self._unsupported_attribute(attribute)

    @_rpc
    def GetReadAttributeUInt32(self, request: Any) -> Any:
        attribute = _enum(request, "attribute")
        with self.recorder.lock:
            task = self._task(request)
            if attribute == _READ_NUM_CHANS:
                return pb.GetReadAttributeUInt32Response(value=len(task.channels))
            if attribute == _READ_AVAIL_SAMP_PER_CHAN:
                running = task.state == "running"
                available = self._acquired(task) - task.samples_read if running else 0
                return pb.GetReadAttributeUInt32Response(value=max(int(available), 0))
        raise self._unsupported_attribute(attribute)

    # -- writing ------------------------------------------------------------------------------

    @_rpc
    def WriteAnalogF64(self, request: Any) -> Any:
        with self.recorder.lock:
            task = self._task(request)
            self._check_kind(task, "ao_voltage", "write analog samples")
            data = self._shape(task, np.asarray(request.write_array, dtype=np.float64), request)
            for channel, row in zip(task.channels, data, strict=True):
                assert channel.min_v is not None and channel.max_v is not None
                low, high = float(row.min()), float(row.max())
                if low < channel.min_v or high > channel.max_v:
                    raise DriverError(
                        DAQmxErrors.INVALID_AO_DATA_WRITE,
                        f"Attempted to write analog data that is outside the range of the "
                        f"channel.\nChannel Name: {channel.name}\nRange: {channel.min_v:g} to "
                        f"{channel.max_v:g} V\nValues written: {low:g} to {high:g} V",
                    )
            self._accept_write(task, data, request.auto_start)
        return pb.WriteAnalogF64Response(samps_per_chan_written=data.shape[1])

    @_rpc
    def WriteDigitalLines(self, request: Any) -> Any:
        with self.recorder.lock:
            task = self._task(request)
            self._check_kind(task, "do_line", "write digital lines")
            raw = np.frombuffer(request.write_array, dtype=np.uint8)
            data = self._shape(task, (raw != 0).astype(np.float64), request)
            self._accept_write(task, data, request.auto_start)
        return pb.WriteDigitalLinesResponse(samps_per_chan_written=data.shape[1])

    # -- running ------------------------------------------------------------------------------

    @_rpc
    def StartTask(self, request: Any) -> Any:
        with self.recorder.lock:
            self._start(self._task(request))
        return pb.StartTaskResponse()

    @_rpc
    def StopTask(self, request: Any) -> Any:
        with self.recorder.lock:
            task = self._task(request)
            if task.state == "running":
                self._stop(task)
        return pb.StopTaskResponse()

    @_rpc
    def TaskControl(self, request: Any) -> Any:
        action = _enum(request, "action")
        with self.recorder.lock:
            task = self._task(request)
            if action == TaskMode.TASK_START.value:
                self._start(task)
            elif action in (TaskMode.TASK_STOP.value, TaskMode.TASK_ABORT.value):
                if task.state == "running":
                    self._stop(task)
            elif action == TaskMode.TASK_UNRESERVE.value:
                if task.state == "running":
                    self._stop(task)
                task.buffer = None  # an unreserved output task loses its buffer
            elif action not in (m.value for m in TaskMode):
                raise unsupported_value("action", action, "")
        return pb.TaskControlResponse()

    @_rpc
    def ReadAnalogF64(self, request: Any) -> Any:
        deadline = None if request.timeout < 0 else time.monotonic() + request.timeout
        while True:
            with self.recorder.lock:
                task = self._task(request)
                self._check_kind(task, "ai_voltage", "read analog samples")
                if task.state != "running":
                    raise DriverError(
                        DAQmxErrors.CANNOT_READ_WHEN_AUTO_START_FALSE_AND_TASK_NOT_RUNNING_OR_COMMITTED,
                        f"Read cannot be performed because the task is not running.\n"
                        f"Task Name: {task.name}",
                    )
                wanted = request.num_samps_per_chan
                available = self._acquired(task) - task.samples_read
                buffer_size = int(task.timing["samps_per_chan"]) if task.timing else 0
                if buffer_size and available > buffer_size:
                    raise DriverError(
                        DAQmxErrors.SAMPLES_NO_LONGER_AVAILABLE,
                        "The application is not able to keep up with the hardware acquisition: "
                        "the samples requested have been overwritten.",
                    )
                if wanted < 0:
                    wanted = available
                if available >= wanted:
                    data = self._acquire(task, wanted)
                    break
                rate = float(task.timing["rate"]) if task.timing else 0.0
                missing_s = (wanted - available) / rate if rate > 0 else _READ_POLL_S
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise DriverError(
                    DAQmxErrors.SAMPLES_NOT_YET_AVAILABLE,
                    "Some or all of the samples requested have not yet been acquired.",
                )
            wait = min(max(missing_s, 0.0005), _READ_POLL_S * 5)
            if deadline is not None:
                wait = min(wait, deadline - now)
            time.sleep(wait)
        if _enum(request, "fill_mode") == FillMode.GROUP_BY_SCAN_NUMBER.value:
            flat = data.T.ravel()
        else:
            flat = data.ravel()
        return pb.ReadAnalogF64Response(read_array=flat, samps_per_chan_read=data.shape[1])

    # -- simulation -----------------------------------------------------------------------------

    def _task(self, request: Any) -> TaskRecord:
        task = self.recorder.live.get(request.task.name)
        if task is None:
            raise DriverError(
                DAQmxErrors.INVALID_TASK,
                f"Task specified is invalid or does not exist.\nTask Name: {request.task.name}",
            )
        return task

    @staticmethod
    def _channels(task: TaskRecord, name: str) -> list[ChannelRecord]:
        if not name:
            return list(task.channels)
        wanted = {part.strip().lower() for part in name.split(",")}
        found = [
            ch for ch in task.channels if ch.name.lower() in wanted or ch.physical.lower() in wanted
        ]
        if not found:
            raise DriverError(
                DAQmxErrors.PHYSICAL_CHAN_DOES_NOT_EXIST,
                f"Channel {name} is not in the task.\nTask Name: {task.name}",
            )
        return found

    @staticmethod
    def _check_idle(task: TaskRecord) -> None:
        if task.state == "running":
            raise DriverError(
                DAQmxErrors.CAN_NOT_PERFORM_OP_WHILE_TASK_RUNNING,
                f"Specified operation cannot be performed while the task is running.\n"
                f"Task Name: {task.name}",
            )

    @staticmethod
    def _check_kind(task: TaskRecord, kind: str, action: str) -> None:
        if not task.channels or task.channel_kinds != {kind}:
            raise DriverError(
                DAQmxErrors.INVALID_TASK,
                f"Cannot {action}: the task has no channels of that type.\nTask Name: {task.name}",
            )

    def _append_channel(self, task: TaskRecord, channel: ChannelRecord) -> None:
        if task.channels and task.channels[0].kind != channel.kind:
            raise DriverError(
                DAQmxErrors.MULTI_CHAN_TYPES_IN_TASK,
                f"Task cannot contain a channel of this type because it contains channels of "
                f"another type.\nTask Name: {task.name}",
            )
        if any(ch.name.lower() == channel.name.lower() for ch in task.channels):
            raise DriverError(
                DAQmxErrors.CHAN_ALREADY_IN_TASK,
                f"Channel is already in the task.\nChannel Name: {channel.name}",
            )
        task.channels.append(channel)

    def _add_voltage(self, request: Any, kind: str, spec: str) -> None:
        with self.recorder.lock:
            task = self._task(request)
            self._check_idle(task)
            physicals = self.devices.resolve(spec, kind)
            names = _assigned_names(request.name_to_assign_to_channel, physicals)
            for physical, name in zip(physicals, names, strict=True):
                device = self.devices.device(physical)
                low, high = device.ao_range_v if kind == "ao" else device.ai_range_v
                if not request.min_val < request.max_val:
                    raise unsupported_value(
                        f"DAQmx_{kind.upper()}_Min", request.min_val, "Must be below the maximum"
                    )
                if request.min_val < low:
                    raise unsupported_value(
                        f"DAQmx_{kind.upper()}_Min", request.min_val, f"Minimum Value: {low:g}"
                    )
                if request.max_val > high:
                    raise unsupported_value(
                        f"DAQmx_{kind.upper()}_Max", request.max_val, f"Maximum Value: {high:g}"
                    )
                channel = ChannelRecord(
                    f"{kind}_voltage", physical, name, request.min_val, request.max_val
                )
                self._append_channel(task, channel)
                if kind == "ao":
                    self.recorder.held.setdefault(physical, 0.0)

    def _check_counter_value(self, physical: str, key: str, value: float) -> None:
        device = self.devices.device(physical)
        if key == "freq" and not 0 < value <= device.counter_timebase_hz / 2:
            raise unsupported_value(
                "DAQmx_CO_Pulse_Freq", value, f"Maximum Value: {device.counter_timebase_hz / 2:g}"
            )
        if key == "duty_cycle" and not 0 < value < 1:
            raise unsupported_value("DAQmx_CO_Pulse_DutyCyc", value, "Range: 0 to 1 (exclusive)")
        if key == "initial_delay" and value < 0:
            raise unsupported_value("DAQmx_CO_Pulse_Freq_InitialDelay", value, "Minimum Value: 0")

    @staticmethod
    def _shape(task: TaskRecord, flat: np.ndarray, request: Any) -> np.ndarray:
        n_chans, n = len(task.channels), request.num_samps_per_chan
        if n <= 0 or flat.size != n_chans * n:
            raise DriverError(
                DAQmxErrors.WRITE_NUM_CHANS_MISMATCH,
                f"Write cannot be performed: {flat.size} samples do not make {n} samples for "
                f"each of the {n_chans} channel(s) in the task.\nTask Name: {task.name}",
            )
        if _enum(request, "data_layout") == FillMode.GROUP_BY_SCAN_NUMBER.value:
            return flat.reshape(n, n_chans).T.copy()
        return flat.reshape(n_chans, n).copy()

    def _accept_write(self, task: TaskRecord, data: np.ndarray, auto_start: bool) -> None:
        if task.sample_clocked:
            task.writes.append(data)
            task.buffer = data
            task.buffer_version += 1
            if auto_start and task.state != "running":
                self._start(task)
            return
        if task.state != "running" and not auto_start:
            raise DriverError(
                DAQmxErrors.CANNOT_WRITE_NOT_STARTED_AUTO_START_FALSE_NOT_ON_DEMAND_HW_TIMED_SGL_PT,
                f"Write cannot be performed because the task is not started and auto start is "
                f"false.\nTask Name: {task.name}",
            )
        self._check_reservations(task)
        task.writes.append(data)
        for channel, row in zip(task.channels, data, strict=True):
            self.recorder.held[channel.physical] = float(row[-1])

    def _check_reservations(self, task: TaskRecord) -> None:
        mine = {p.lower() for p in task.physical_channels}
        for other in self.recorder.live.values():
            if other is task or other.state != "running":
                continue
            shared = mine & {p.lower() for p in other.physical_channels}
            if shared:
                raise DriverError(
                    DAQmxErrors.PAL_RESOURCE_RESERVED,
                    f"The specified resource is reserved. The operation could not be completed "
                    f"as specified.\nResource: {', '.join(sorted(shared))}\n"
                    f"Reserved by Task: {other.name}",
                )

    def _start(self, task: TaskRecord) -> None:
        self._check_idle(task)
        if not task.channels:
            raise DriverError(
                DAQmxErrors.INVALID_TASK, f"Task contains no channels.\nTask Name: {task.name}"
            )
        is_output = task.channel_kinds & {"ao_voltage", "do_line"}
        if task.sample_clocked and is_output and task.buffer is None:
            raise DriverError(
                DAQmxErrors.OUTPUT_BUFFER_EMPTY,
                f"Generation cannot be started because the output buffer is empty. Write data "
                f"before starting a buffered generation.\nTask Name: {task.name}",
            )
        self._check_reservations(task)
        task.state = "running"
        task.starts += 1
        task.samples_read = 0
        task.started_at = None if self._waits_for_signal(task) else time.monotonic()
        self._fire_triggers()

    def _stop(self, task: TaskRecord) -> None:
        if task.started_at is not None:
            now = self.recorder.output_values()
            for physical in task.physical_channels:
                if physical in now:
                    self.recorder.held[physical] = now[physical]
        for channel in task.channels:
            if channel.kind == "co_pulse_freq":
                idle_high = channel.settings.get("idle_state") == "high"
                self.recorder.held[channel.physical] = 1.0 if idle_high else 0.0
        task.state = "stopped"
        task.stops += 1
        task.started_at = None

    @staticmethod
    def _waits_for_signal(task: TaskRecord) -> bool:
        source = str(task.timing.get("source", "")) if task.timing else ""
        return task.start_trigger is not None or source.startswith("/")

    def _fire_triggers(self) -> None:
        """Start every armed task whose trigger or clock comes from a task that now runs."""
        live = self.recorder.live.values()
        changed = True
        while changed:
            changed = False
            for task in live:
                if task.state != "running" or task.started_at is not None:
                    continue
                fired = self._signal_time(task)
                if fired is not None:
                    task.started_at = fired
                    changed = True

    def _signal_time(self, task: TaskRecord) -> float | None:
        if task.start_trigger is not None:
            terminal = task.start_trigger["source"]
        else:
            terminal = str(task.timing["source"]) if task.timing else ""
        parts = terminal.strip("/").split("/")
        running = [t for t in self.recorder.live.values() if t.started_at is not None]
        if len(parts) == 3 and parts[1].lower() in ("ao", "ai", "do"):
            kind = {"ao": "ao_voltage", "ai": "ai_voltage", "do": "do_line"}[parts[1].lower()]
            for source in running:
                on_device = any(
                    p.lower().startswith(parts[0].lower() + "/") for p in source.physical_channels
                )
                if on_device and kind in source.channel_kinds and source.sample_clocked:
                    return source.started_at
            return None
        # A PFI or RTSI line: wired to whatever task starts without a trigger of its own.
        free = [t.started_at for t in running if t.start_trigger is None and t is not task]
        return min(free) if free else None  # type: ignore[type-var]

    def _acquired(self, task: TaskRecord) -> int:
        if task.started_at is None or task.timing is None:
            return 0
        rate = float(task.timing["rate"])
        return max(0, math.floor((time.monotonic() - task.started_at) * rate + 1e-9))

    def _acquire(self, task: TaskRecord, count: int) -> np.ndarray:
        """The next samples of every AI channel: the wired output seen through its lag."""
        assert task.timing is not None and task.started_at is not None
        rate = float(task.timing["rate"])
        times = task.started_at + (task.samples_read + np.arange(count)) / rate
        rows = [self._measure(channel, times) for channel in task.channels]
        task.samples_read += count
        return np.vstack(rows) if rows else np.empty((0, count))

    def _measure(self, channel: ChannelRecord, times: np.ndarray) -> np.ndarray:
        device = self.devices.device(channel.physical)
        ao = device.ao_for_ai(channel.physical)
        values = np.zeros(times.size)
        if ao is not None:
            values[:] = self.recorder.held.get(ao, 0.0)
            for source in self.recorder.live.values():
                if (
                    source.started_at is None
                    or source.buffer is None
                    or ao not in source.physical_channels
                ):
                    continue
                assert source.timing is not None
                rate = float(source.timing["rate"])
                row = source.physical_channels.index(ao)
                lagged = self._lagged(source, row, rate, device.loopback_lag_s)
                index = np.floor((times - source.started_at) * rate + 1e-6).astype(np.int64)
                playing = index >= 0
                values[playing] = lagged[index[playing] % lagged.size]
        assert channel.min_v is not None and channel.max_v is not None
        return np.clip(values, channel.min_v, channel.max_v)

    def _lagged(self, task: TaskRecord, row: int, rate: float, lag_s: float) -> np.ndarray:
        key = (task.name, task.buffer_version, row)
        if key not in self._lag_cache:
            assert task.buffer is not None
            self._lag_cache[key] = periodic_lag_response(task.buffer[row], rate, lag_s)
        return self._lag_cache[key]

    @staticmethod
    def _unsupported_attribute(attribute: int) -> DriverError:
        return DriverError(
            DAQmxErrors.ATTRIBUTE_NOT_SUPPORTED_IN_TASK_CONTEXT,
            f"Specified property is not supported by the simulated device or is not applicable "
            f"to the task.\nProperty: 0x{attribute:X}",
        )


def _assigned_names(assigned: str, physicals: list[str]) -> list[str]:
    """Virtual channel names: the assigned ones, or the physical names like the driver does."""
    names = [n.strip() for n in assigned.split(",") if n.strip()]
    if not names:
        return list(physicals)
    if len(names) == 1 and len(physicals) > 1:
        return [f"{names[0]}{i}" for i in range(len(physicals))]
    if len(names) != len(physicals):
        raise DriverError(
            DAQmxErrors.INVALID_ATTRIBUTE_VALUE,
            f"The number of channel names ({len(names)}) does not match the number of physical "
            f"channels ({len(physicals)}).",
        )
    return names


def error_string(code: int) -> str:
    """A readable description of a status code, from the name of the nidaqmx error constant."""
    try:
        name = DAQmxErrors(code).name
    except ValueError:
        return ""
    return name.replace("_", " ").capitalize() + "."
