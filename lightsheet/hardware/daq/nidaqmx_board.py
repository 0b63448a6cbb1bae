"""NI-DAQmx backend: hardware-timed regeneration of one period, through the local driver or gRPC.

Task layout (one board or several synchronised through a shared start trigger):
- one AO task per device, continuous regeneration on the device's sample clock; the task of the
  piezo's device is the primary and starts last (software start), every other task waits for it:
  on the primary device through ``/<dev>/ao/StartTrigger``, on other devices through
  ``daq.start_trigger`` (a terminal those boards can see, e.g. over RTSI/PXI);
- the camera trigger as one more AO channel, a DO line clocked by ``/<dev>/ao/SampleClock``, or
  a counter pulse train started by the AO start trigger (evenly spaced pulses only);
- the piezo read-back as an AI task at the same rate started by the AO start trigger.
After every stop, abort or error the outputs are driven to their safe values by a short on-demand
task, since a stopped hardware-timed task leaves the last sample on the outputs.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from nidaqmx import Task

from lightsheet.hardware.daq.protocol import OUTPUT_NAMES, DaqBoard, DaqError, DaqSettings
from lightsheet.hardware.daq.pulse_train import PulseTrain, pulse_train

__all__ = ["NiDaqBoard", "PulseTrain", "device_of", "driver_errors", "pulse_train"]

_log = logging.getLogger(__name__)
_task_numbers = itertools.count()

# The read-back the driver buffers before unread samples are overwritten: at least this many
# periods and this many seconds. Eight 20 ms periods (160 ms) lost a run whenever the scanner
# was held up that long on a loaded machine; NI's own default for continuous input is seconds.
AI_BUFFER_PERIODS = 8
AI_BUFFER_SECONDS = 2.0
READ_TIMEOUT_MARGIN_S = 1.0


def device_of(physical: str) -> str:
    """``Dev1`` for ``Dev1/ao0`` or ``/Dev1/port0/line1``."""
    return physical.strip("/").split("/")[0]


@contextmanager
def driver_errors(action: str) -> Iterator[None]:
    """Turn NI-DAQmx and gRPC failures into DaqError naming what was being done."""
    import nidaqmx.errors

    try:
        yield
    except nidaqmx.errors.DaqError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = "; ".join(line for line in lines if not line.startswith("Status Code"))
        raise DaqError(
            f"{action}: NI-DAQmx error {exc.error_code} ({exc.error_type.name}): {detail}",
            code=exc.error_code,
        ) from exc
    except nidaqmx.errors.Error as exc:
        raise DaqError(f"{action}: {exc}") from exc


@dataclass
class _Plan:
    """Which outputs go to which task; fixed at configure."""

    primary: str
    ao_groups: dict[str, list[str]]  # device -> output names, in channel order
    trigger_kind: str
    trigger_device: str
    tasks: dict[str, Task] = field(default_factory=dict)  # by purpose

    def start_trigger_for(self, device: str, settings: DaqSettings) -> str | None:
        if device == self.primary:
            return f"/{self.primary}/ao/StartTrigger"
        return settings.start_trigger


class NiDaqBoard(DaqBoard):
    """A DAQ board driven through nidaqmx; gRPC when ``grpc_address`` is given."""

    def __init__(self, grpc_address: str | None = None) -> None:
        super().__init__()
        self._grpc_address = grpc_address
        self._channel = None
        if grpc_address is not None:
            import grpc

            self._channel = grpc.insecure_channel(grpc_address)
        self._plan: _Plan | None = None
        self._n_samples = 0
        self._loaded = False  # whether the tasks hold the current period

    @property
    def session_names(self) -> tuple[str, ...]:
        if self._channel is None or self._plan is None:
            return ()  # the local driver releases a dead process's tasks itself
        return tuple(task.name for task in self._plan.tasks.values())

    def release_sessions(self, names: tuple[str, ...]) -> None:
        """Attach to each task a dead process left on the gRPC server and clear it, stopping
        whatever it played, so the outputs can be taken over."""
        if self._channel is None:
            return
        import nidaqmx
        from nidaqmx.grpc_session_options import SessionInitializationBehavior

        for name in names:
            options = nidaqmx.GrpcSessionOptions(
                self._channel,
                name,
                initialization_behavior=SessionInitializationBehavior.ATTACH_TO_SERVER_SESSION,
            )
            try:
                with driver_errors(f"releasing the task {name} of a dead process"):
                    nidaqmx.Task(new_task_name=name, grpc_options=options).close()
            except DaqError as exc:
                _log.warning("%s", exc)  # gone already: nothing holds the outputs

    # -- backend --------------------------------------------------------------------------------

    def _do_configure(self, settings: DaqSettings) -> None:
        self._close_tasks()
        plan = self._plan_tasks(settings)
        self._plan = plan
        try:
            self._create_tasks(plan, settings)
        except Exception:
            self._close_tasks()
            raise

    def _do_write(self, channels: dict[str, np.ndarray]) -> None:
        from nidaqmx.constants import AcquisitionType, RegenerationMode

        settings, plan = self._configured()
        n = len(channels["piezo"])
        rate = settings.sample_rate_hz
        trigger_limits = settings.outputs["camera_trigger"].limits
        threshold = (trigger_limits.min_v + trigger_limits.max_v) / 2.0
        train = None
        if plan.trigger_kind == "counter":
            train = pulse_train(channels["camera_trigger"], threshold, rate)
        continuous = AcquisitionType.CONTINUOUS
        for device, names in plan.ao_groups.items():
            task = plan.tasks[f"ao_{device}"]
            with driver_errors(f"loading the analog outputs of {device}"):
                task.timing.cfg_samp_clk_timing(rate, sample_mode=continuous, samps_per_chan=n)
                task.out_stream.regen_mode = RegenerationMode.ALLOW_REGENERATION
                data = np.vstack([channels[name] for name in names])
                task.write(data[0] if len(names) == 1 else data, auto_start=False)
        if plan.trigger_kind == "do":
            task = plan.tasks["do"]
            with driver_errors("loading the camera trigger line"):
                task.timing.cfg_samp_clk_timing(
                    rate,
                    source=f"/{plan.trigger_device}/ao/SampleClock",
                    sample_mode=continuous,
                    samps_per_chan=n,
                )
                task.out_stream.regen_mode = RegenerationMode.ALLOW_REGENERATION
                task.write(channels["camera_trigger"] > threshold, auto_start=False)
        if train is not None:
            task = plan.tasks["counter"]
            with driver_errors("setting the camera trigger pulse train"):
                counter = task.co_channels[0]
                counter.co_pulse_freq = train.frequency_hz
                counter.co_pulse_duty_cyc = train.duty_cycle
                counter.co_pulse_freq_initial_delay = train.initial_delay_s
                task.timing.cfg_implicit_timing(sample_mode=continuous)
        if "ai" in plan.tasks:
            with driver_errors("setting up the piezo read-back"):
                buffered = max(n * AI_BUFFER_PERIODS, math.ceil(rate * AI_BUFFER_SECONDS))
                plan.tasks["ai"].timing.cfg_samp_clk_timing(
                    rate, sample_mode=continuous, samps_per_chan=buffered
                )
        self._n_samples = n
        self._loaded = True

    def _do_start(self) -> None:
        _, plan = self._configured()
        if not self._loaded and self._period is not None:
            self._do_write(dict(self._period))
        for purpose in self._start_order(plan):
            with driver_errors(f"starting the {purpose} task"):
                plan.tasks[purpose].start()

    def _do_stop(self) -> None:
        _, plan = self._configured()
        failure: DaqError | None = None
        for purpose in reversed(self._start_order(plan)):
            try:
                with driver_errors(f"stopping the {purpose} task"):
                    plan.tasks[purpose].stop()
            except DaqError as exc:
                _log.error("%s", exc)
                failure = failure or exc
        if failure is not None:
            raise failure

    def _do_set_static(self, values: dict[str, float]) -> None:
        from nidaqmx.constants import LineGrouping, TaskMode

        settings, plan = self._configured()
        trigger = settings.outputs["camera_trigger"]
        level = values["camera_trigger"] > (trigger.limits.min_v + trigger.limits.max_v) / 2.0
        if plan.trigger_kind == "counter" and level:
            raise DaqError("a counter camera trigger cannot hold a static high level")
        # A stopped hardware-timed task may still reserve the channels; release them (this also
        # drops its buffer, so the next start loads the period again).
        for purpose, task in plan.tasks.items():
            with driver_errors(f"releasing the {purpose} task"):
                task.control(TaskMode.TASK_UNRESERVE)
        self._loaded = False
        for device, names in plan.ao_groups.items():
            with (
                driver_errors(f"setting static outputs on {device}"),
                self._new_task(f"static_{device}") as task,
            ):
                for name in names:
                    self._add_ao(task, name, settings)
                samples = [values[name] for name in names]
                task.write(samples[0] if len(samples) == 1 else samples, auto_start=True)
        if plan.trigger_kind == "do":
            with (
                driver_errors("setting the camera trigger line"),
                self._new_task("static_line") as task,
            ):
                task.do_channels.add_do_chan(
                    trigger.physical, "camera_trigger", LineGrouping.CHAN_PER_LINE
                )
                task.write(bool(level), auto_start=True)

    def _do_piezo_period_ready(self) -> bool:
        _, plan = self._configured()
        with driver_errors("asking for the piezo read-back"):
            available = int(plan.tasks["ai"].in_stream.avail_samp_per_chan)
        return available >= self._n_samples

    def _do_read_piezo_v(self) -> np.ndarray:
        from nidaqmx.stream_readers import AnalogSingleChannelReader

        settings, plan = self._configured()
        n = self._n_samples
        samples = np.empty(n, dtype=np.float64)
        timeout = 2.0 * n / settings.sample_rate_hz + READ_TIMEOUT_MARGIN_S
        with driver_errors("reading the piezo position"):
            reader = AnalogSingleChannelReader(plan.tasks["ai"].in_stream)
            reader.read_many_sample(samples, number_of_samples_per_channel=n, timeout=timeout)
        return samples

    def _do_close(self) -> None:
        self._close_tasks()
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    # -- helpers --------------------------------------------------------------------------------

    def _configured(self) -> tuple[DaqSettings, _Plan]:
        settings, plan = self._settings, self._plan
        if settings is None or plan is None:
            raise DaqError("configure the DAQ board first")
        return settings, plan

    @staticmethod
    def _plan_tasks(settings: DaqSettings) -> _Plan:
        kind = settings.camera_trigger_kind
        groups: dict[str, list[str]] = {}
        for name in OUTPUT_NAMES:
            if name == "camera_trigger" and kind != "ao":
                continue
            groups.setdefault(device_of(settings.outputs[name].physical), []).append(name)
        primary = next(iter(groups))
        trigger_device = device_of(settings.outputs["camera_trigger"].physical)
        devices = set(groups) | {trigger_device}
        if settings.readback is not None:
            devices.add(device_of(settings.readback.physical))
        if len(devices) > 1 and settings.start_trigger is None:
            raise DaqError(
                f"the DAQ channels span devices {', '.join(sorted(devices))}: set "
                f"daq.start_trigger to the terminal the other boards start on "
                f"(e.g. /{primary}/ao/StartTrigger)"
            )
        if kind == "do" and trigger_device not in groups:
            raise DaqError(
                f"the camera trigger line {settings.outputs['camera_trigger'].physical} is clocked "
                f"by its device's analog output sample clock, but {trigger_device} has no output"
            )
        return _Plan(primary, groups, kind, trigger_device)

    def _create_tasks(self, plan: _Plan, settings: DaqSettings) -> None:
        from nidaqmx.constants import Edge, FrequencyUnits, Level, LineGrouping

        for device, names in plan.ao_groups.items():
            purpose = f"ao_{device}"
            with driver_errors(f"creating the analog outputs on {device}"):
                task = plan.tasks[purpose] = self._new_task(purpose)
                for name in names:
                    self._add_ao(task, name, settings)
                if device != plan.primary:
                    task.triggers.start_trigger.cfg_dig_edge_start_trig(
                        settings.start_trigger, Edge.RISING
                    )
        trigger = settings.outputs["camera_trigger"]
        if plan.trigger_kind == "do":
            with driver_errors("creating the camera trigger line"):
                task = plan.tasks["do"] = self._new_task("do")
                task.do_channels.add_do_chan(
                    trigger.physical, "camera_trigger", LineGrouping.CHAN_PER_LINE
                )
        elif plan.trigger_kind == "counter":
            with driver_errors("creating the camera trigger counter"):
                task = plan.tasks["counter"] = self._new_task("counter")
                task.co_channels.add_co_pulse_chan_freq(
                    trigger.physical,
                    "camera_trigger",
                    units=FrequencyUnits.HZ,
                    idle_state=Level.LOW,
                    initial_delay=0.0,
                    freq=settings.sample_rate_hz / 2.0,
                    duty_cycle=0.5,
                )
                task.triggers.start_trigger.cfg_dig_edge_start_trig(
                    plan.start_trigger_for(plan.trigger_device, settings), Edge.RISING
                )
        readback = settings.readback
        if readback is not None:
            with driver_errors("creating the piezo read-back input"):
                task = plan.tasks["ai"] = self._new_task("ai")
                task.ai_channels.add_ai_voltage_chan(
                    readback.physical,
                    "piezo_readback",
                    min_val=readback.min_v,
                    max_val=readback.max_v,
                )
                task.triggers.start_trigger.cfg_dig_edge_start_trig(
                    plan.start_trigger_for(device_of(readback.physical), settings), Edge.RISING
                )

    @staticmethod
    def _add_ao(task: Task, name: str, settings: DaqSettings) -> None:
        out = settings.outputs[name]
        task.ao_channels.add_ao_voltage_chan(
            out.physical, name, min_val=out.limits.min_v, max_val=out.limits.max_v
        )

    @staticmethod
    def _start_order(plan: _Plan) -> list[str]:
        """Tasks that wait for a trigger or clock first, the primary AO task last."""
        waiting = [p for p in ("ai", "do", "counter") if p in plan.tasks]
        others = [f"ao_{d}" for d in plan.ao_groups if d != plan.primary]
        return [*waiting, *others, f"ao_{plan.primary}"]

    def _new_task(self, purpose: str) -> Task:
        import nidaqmx

        name = f"lightsheet_{os.getpid()}_{next(_task_numbers)}_{purpose}"
        if self._channel is None:
            return nidaqmx.Task(new_task_name=name)
        options = nidaqmx.GrpcSessionOptions(self._channel, name)
        return nidaqmx.Task(new_task_name=name, grpc_options=options)

    def _close_tasks(self) -> None:
        plan = self._plan
        if plan is None:
            return
        for purpose, task in list(plan.tasks.items()):
            try:
                with driver_errors(f"closing the {purpose} task"):
                    task.close()
            except DaqError as exc:
                _log.error("%s", exc)
        plan.tasks.clear()
        self._plan = None
