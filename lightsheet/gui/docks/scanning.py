"""Scanning dock: the z sweep and the lateral sweep, each field with the range it allows.

The waveform plot (shown in its own dock, where it has room) is rebuilt from the widgets' values
on every edit, before anything is sent, so an operator sees the ramp and the exposure windows
move as they type; settings the rig refuses are marked at their field and never sent.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from qtpy.QtWidgets import QDoubleSpinBox, QSpinBox, QWidget

from lightsheet.app import limits
from lightsheet.config import RigConfig
from lightsheet.gui.controller import SessionController
from lightsheet.gui.docks.base import ControlDock, changed_config, validation_message
from lightsheet.gui.docks.camera import pair
from lightsheet.gui.waveform_plot import WaveformPlot
from lightsheet.scanning import build_waveforms, scan_params_from_config

log = logging.getLogger("lightsheet.gui")


def _double(low: float, high: float, decimals: int, suffix: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSuffix(suffix)
    box.setKeyboardTracking(False)
    return box


def _int(low: int, high: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setKeyboardTracking(False)
    return box


class ScanningDock(ControlDock):
    """z range, planes, volume rate, skipped planes, lateral sweep; the waveform plot."""

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__("Scanning", controller, parent)
        checked = self.add_checked_row
        self.z_start = checked("z start", limits.Z_START, _double(-10000, 10000, 2, " µm"))
        self.z_end = checked("z end", limits.Z_END, _double(-10000, 10000, 2, " µm"))
        self.n_planes = checked("Planes", limits.PLANES, _int(1, 2000), "Planes per volume")
        self.volume_rate = checked(
            "Volume rate", limits.VOLUME_RATE, _double(0.01, 100, 3, " /s"), "Volumes per second"
        )
        self.skip_start = _int(0, 1999)
        self.skip_start.setPrefix("start ")
        self.skip_start.setToolTip("Planes at the start of each sweep not saved")
        self.skip_end = _int(0, 1999)
        self.skip_end.setPrefix("end ")
        self.skip_end.setToolTip("Planes at the end of each sweep not saved")
        self.add_row("Skip planes", pair(self.skip_start, self.skip_end))
        self.lateral_frequency = checked(
            "Lateral sweep", limits.LATERAL_HZ, _double(0.01, 100000, 1, " Hz"),
            "Lateral galvo sweep frequency",
        )  # fmt: skip
        self.lateral_amplitude = checked(
            "Lateral ampl.", limits.LATERAL_V, _double(0, 10, 3, " V"),
            "Lateral galvo sweep amplitude (the galvo's own volts)",
        )  # fmt: skip
        self.planar_z = checked(
            "Planar z", limits.PLANAR_Z, _double(-10000, 10000, 2, " µm"),
            "Plane imaged in planar mode",
        )  # fmt: skip
        self.inputs = (
            self.z_start,
            self.z_end,
            self.n_planes,
            self.volume_rate,
            self.skip_start,
            self.skip_end,
            self.lateral_frequency,
            self.lateral_amplitude,
            self.planar_z,
        )
        self.plot = WaveformPlot()  # placed by the window in a dock of its own
        self.watch(*self.inputs)
        self.lock_during_acquisition(*self.inputs)
        for box in self.inputs:
            box.valueChanged.connect(self.update_plot)
        controller.mode_changed.connect(lambda _mode: self.update_plot())
        self.refresh()

    def show_config(self, config: RigConfig) -> None:
        scanning = config.scanning
        self.z_start.setValue(scanning.z_start_um)
        self.z_end.setValue(scanning.z_end_um)
        self.n_planes.setValue(scanning.n_planes)
        self.volume_rate.setValue(scanning.volume_rate_hz)
        self.skip_start.setValue(scanning.skip_planes_start)
        self.skip_end.setValue(scanning.skip_planes_end)
        self.lateral_frequency.setValue(scanning.lateral_frequency_hz)
        self.lateral_amplitude.setValue(scanning.lateral_amplitude_v)
        self.planar_z.setValue(scanning.planar_z_um)
        self.update_plot()

    def config_from_widgets(self, config: RigConfig) -> RigConfig:
        return changed_config(
            config,
            {
                "scanning.z_start_um": self.z_start.value(),
                "scanning.z_end_um": self.z_end.value(),
                "scanning.n_planes": self.n_planes.value(),
                "scanning.volume_rate_hz": self.volume_rate.value(),
                "scanning.skip_planes_start": self.skip_start.value(),
                "scanning.skip_planes_end": self.skip_end.value(),
                "scanning.lateral_frequency_hz": self.lateral_frequency.value(),
                "scanning.lateral_amplitude_v": self.lateral_amplitude.value(),
                "scanning.planar_z_um": self.planar_z.value(),
            },
        )

    def plot_mode(self, config: RigConfig) -> str:
        """The scan the plot shows: the rig's mode when it scans, else the config's."""
        mode = self.controller.mode
        return mode if mode in ("planar", "volumetric") else config.scanning.mode

    def update_plot(self, *_: object) -> None:
        """Rebuild the plot from the widgets' values (not yet sent)."""
        try:
            config = self.config_from_widgets(self.controller.config)
            waveforms = build_waveforms(
                scan_params_from_config(config, mode=self.plot_mode(config))
            )
        except ValidationError as exc:
            self.plot.set_waveforms(None, validation_message(exc))
            return
        except ValueError as exc:  # the waveform builder refuses: limits, timing
            self.plot.set_waveforms(None, str(exc))
            return
        self.plot.set_waveforms(waveforms)
