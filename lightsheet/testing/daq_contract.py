"""The DAQ board contract: what every ``DaqBoard`` backend promises, as a pytest base class.

A backend author subclasses ``DaqBoardContract`` as ``TestMyBoard`` and implements three hooks: the
board factory, and two views into what reached the backend that do not go through the board
object (a driver recording, a loop-back measurement). The tests then check that waveforms outside
the limits never arrive, that stop and close leave every output at its safe value, and the rest.
The board is configured with ``daq_settings()``: channels on Dev1, limits the tests rely on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from lightsheet.hardware.daq.limits import WaveformLimitError
from lightsheet.hardware.daq.protocol import OUTPUT_NAMES, DaqBoard, DaqError, DaqSettings

N_SAMPLES = 400  # 20 ms at 20 kHz: a period the tests can wait for
SAFE = {
    "piezo": 0.0,
    "z_galvo": -1.0,
    "lateral_galvo": 0.5,
    "laser_blanking": 0.0,
    "camera_trigger": 0.0,
}
TRIGGER_PHYSICAL = {"ao": "Dev1/ao4", "do": "Dev1/port0/line0", "counter": "Dev1/ctr0"}


def rig_config(kind: str = "ao", readback: bool = True, **changes: object) -> dict:
    """A ``daq`` config section (mapping form) for one board, Dev1."""
    limits = {
        "piezo": ("Dev1/ao0", 0.0, 10.0, 0.05),
        "z_galvo": ("Dev1/ao1", -5.0, 5.0, 0.05),
        "lateral_galvo": ("Dev1/ao2", -5.0, 5.0, 0.5),
        "laser_blanking": ("Dev1/ao3", 0.0, 5.0, 5.0),
        "camera_trigger": (TRIGGER_PHYSICAL[kind], 0.0, 5.0, 5.0),
    }
    cfg = {
        "backend": "nidaqmx",
        "sample_rate_hz": 20000.0,
        "channels": {
            name: {"physical": p, "min_v": lo, "max_v": hi, "max_step_v": dv, "safe_v": SAFE[name]}
            for name, (p, lo, hi, dv) in limits.items()
        },
        "camera_trigger_kind": kind,
        "piezo_readback": {
            "physical": "Dev1/ai0",
            "min_v": -10.0,
            "max_v": 10.0,
            "enabled": readback,
        },
        "piezo_um_per_v": 40.0,
        "simulated": {"piezo_lag_ms": 2.0},
        "start_trigger": None,
        "grpc_address": "localhost:31763",
    }
    cfg.update(changes)
    return cfg


def waveforms(n: int = N_SAMPLES, planes: int = 8, blanking: float | None = None) -> dict:
    """One valid period: smooth piezo and z galvo, a lateral triangle, one pulse per plane."""
    k = np.arange(n)
    phase = 2 * np.pi * k / n
    trigger = np.where(k % (n // planes) < 5, 5.0, 0.0)
    return {
        "piezo": 4.0 + 2.5 * np.sin(phase),
        "z_galvo": -1.0 + 1.5 * np.sin(phase),
        "lateral_galvo": 2.0 * (np.abs(((k * 8 / n) % 2) - 1) * 2 - 1),
        "laser_blanking": np.full(n, blanking) if blanking is not None else trigger.copy(),
        "camera_trigger": trigger,
    }


@dataclass
class Backend:
    """A configured board plus two views into its backend, independent of the board object."""

    board: DaqBoard
    settings: DaqSettings
    outputs: Callable[[], dict[str, float]]  # value on every output now, by output name
    arrivals: Callable[[], object]  # equal before and after = nothing reached the backend


class DaqBoardContract:
    """Every test a ``DaqBoard`` backend must pass; subclass as ``TestXxx`` and implement the hooks.

    pytest makes a new instance for every test, so ``make_board`` may keep what the other hooks
    need (a server, an observer) on ``self``.
    """

    def make_board(self) -> DaqBoard:
        """A new board of the backend under test, not yet configured; called once per test."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement make_board() to run the DAQ board contract"
        )

    def read_outputs(self, settings: DaqSettings) -> dict[str, float]:
        """The value on every output now, by output name, as the backend's far side sees it."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement read_outputs() to run the DAQ board contract"
        )

    def arrivals(self) -> object:
        """A snapshot of everything that reached the backend; equal snapshots = nothing arrived."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement arrivals() to run the DAQ board contract"
        )

    def release_backend(self) -> None:
        """Free what ``make_board`` started, after the board closed; nothing by default."""

    def daq_settings(self) -> DaqSettings:
        """The settings the board is configured with; the tests assert these limits."""
        return DaqSettings.from_config(rig_config())

    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        settings = self.daq_settings()
        board = self.make_board()
        try:
            board.configure(settings)
            yield Backend(board, settings, lambda: self.read_outputs(settings), self.arrivals)
        finally:
            board.close()
            self.release_backend()

    def test_configure_puts_every_output_at_its_safe_value(self, backend: Backend) -> None:
        assert backend.outputs() == pytest.approx(SAFE)
        assert not backend.board.is_running

    def test_running_outputs_play_the_written_period(self, backend: Backend) -> None:
        period = waveforms()
        backend.board.write(period)
        backend.board.start()
        assert backend.board.is_running
        now = backend.outputs()
        for name in OUTPUT_NAMES:
            assert np.isclose(period[name], now[name]).any(), name

    @pytest.mark.parametrize(
        ("channel", "change", "message"),
        [
            ("z_galvo", lambda w: w + 5.0, "above the maximum"),
            ("piezo", lambda w: w - 4.5, "below the minimum"),
            ("piezo", lambda w: np.where(np.arange(w.size) == 100, w + 0.5, w), "step"),
            ("lateral_galvo", lambda w: np.where(np.arange(w.size) == 7, np.nan, w), "NaN"),
        ],
    )
    def test_waveform_outside_limits_is_refused_and_nothing_arrives(
        self, backend: Backend, channel: str, change: Callable, message: str
    ) -> None:
        period = waveforms()
        period[channel] = change(period[channel])
        before = backend.arrivals()
        with pytest.raises(WaveformLimitError, match=rf"channel {channel}: .*{message}"):
            backend.board.write(period)
        assert backend.arrivals() == before
        assert backend.board.period is None

    def test_incomplete_or_ragged_sets_are_refused(self, backend: Backend) -> None:
        before = backend.arrivals()
        partial = waveforms()
        del partial["camera_trigger"]
        with pytest.raises(WaveformLimitError, match="camera_trigger"):
            backend.board.write(partial)
        ragged = waveforms()
        ragged["piezo"] = ragged["piezo"][:-1]
        with pytest.raises(WaveformLimitError, match="differ in length"):
            backend.board.write(ragged)
        unknown = {**waveforms(), "shutter": np.zeros(N_SAMPLES)}
        with pytest.raises(WaveformLimitError, match="shutter"):
            backend.board.write(unknown)
        assert backend.arrivals() == before

    def test_refused_write_while_running_keeps_the_old_period_playing(
        self, backend: Backend
    ) -> None:
        backend.board.write(waveforms())
        backend.board.start()
        before = backend.arrivals()
        bad = waveforms()
        bad["z_galvo"] = bad["z_galvo"] + 10.0
        with pytest.raises(WaveformLimitError, match="z_galvo"):
            backend.board.write(bad)
        assert backend.arrivals() == before
        assert backend.board.is_running

    def test_stop_leaves_every_output_safe(self, backend: Backend) -> None:
        backend.board.write(waveforms())
        backend.board.start()
        backend.board.stop()
        assert not backend.board.is_running
        assert backend.outputs() == pytest.approx(SAFE)

    def test_restart_after_stop_plays_again(self, backend: Backend) -> None:
        backend.board.write(waveforms(blanking=3.0))
        backend.board.start()
        backend.board.stop()
        backend.board.start()
        assert backend.outputs()["laser_blanking"] == pytest.approx(3.0)

    def test_write_while_running_switches_to_the_new_period(self, backend: Backend) -> None:
        backend.board.write(waveforms(blanking=1.0))
        backend.board.start()
        backend.board.write(waveforms(blanking=2.5))
        assert backend.board.is_running
        assert backend.outputs()["laser_blanking"] == pytest.approx(2.5)

    def test_start_needs_a_written_period(self, backend: Backend) -> None:
        with pytest.raises(DaqError, match="write a waveform set"):
            backend.board.start()

    def test_configure_while_running_is_refused(self, backend: Backend) -> None:
        backend.board.write(waveforms())
        backend.board.start()
        with pytest.raises(DaqError, match="stop the board"):
            backend.board.configure(backend.settings)

    def test_set_static_holds_values_and_keeps_the_others(self, backend: Backend) -> None:
        backend.board.set_static({"z_galvo": 1.25, "piezo": 3.0})
        backend.board.set_static({"lateral_galvo": -2.0})
        expected = {**SAFE, "z_galvo": 1.25, "piezo": 3.0, "lateral_galvo": -2.0}
        assert backend.outputs() == pytest.approx(expected)

    def test_set_static_out_of_range_is_refused_and_nothing_arrives(self, backend: Backend) -> None:
        before = backend.arrivals()
        with pytest.raises(WaveformLimitError, match=r"channel piezo: .*above the maximum"):
            backend.board.set_static({"piezo": 12.0})
        with pytest.raises(WaveformLimitError, match="channel focus: no such output"):
            backend.board.set_static({"focus": 1.0})
        assert backend.arrivals() == before

    def test_set_static_while_running_is_refused(self, backend: Backend) -> None:
        backend.board.write(waveforms())
        backend.board.start()
        with pytest.raises(DaqError, match="stop the board"):
            backend.board.set_static({"piezo": 1.0})

    def test_read_piezo_gives_one_period_in_micrometres(self, backend: Backend) -> None:
        period = waveforms()
        backend.board.write(period)
        backend.board.start()
        first = backend.board.read_piezo_um()
        second = backend.board.read_piezo_um()
        for readback in (first, second):
            assert readback is not None and readback.shape == (N_SAMPLES,)
            # The read-back follows the command (40 µm/V): same mean position, same shape, lagged.
            command_um = period["piezo"] * 40.0
            assert readback.mean() == pytest.approx(command_um.mean(), abs=0.5)
            assert np.corrcoef(readback, command_um)[0, 1] > 0.8

    def test_read_piezo_needs_a_running_board(self, backend: Backend) -> None:
        backend.board.write(waveforms())
        with pytest.raises(DaqError, match="running"):
            backend.board.read_piezo_um()

    def test_close_goes_safe_and_is_final(self, backend: Backend) -> None:
        backend.board.write(waveforms())
        backend.board.start()
        backend.board.close()
        backend.board.close()
        assert backend.outputs() == pytest.approx(SAFE)
        with pytest.raises(DaqError, match="closed"):
            backend.board.write(waveforms())
