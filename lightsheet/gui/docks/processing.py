"""Processing dock: a live processor on the preview and the runs, tuned while it runs.

Choose a built-in processor or your own class (``package.module:Class`` or ``file.py:Class``);
its settings become widgets, made from its attributes, and every change goes to the running copy
at once (``LiveProcessing.set_setting``: both copies change, the running state is kept); its
methods that take no argument become buttons (``pipe_message``). Toggles say where it runs (its
own process or a thread of this one), how results come back (a queue or shared memory) and
whether runs save them. The dock shows processed frames per second, frames skipped, results
dropped and the settings version; an image result is the napari layer "processed" beside the
raw preview, a number (the focus metric) a live plot. A processor that raises shows its error
here, with the traceback one click away.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from napari.components import ViewerModel
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QWidget,
)

from lightsheet.config import RigConfig
from lightsheet.gui.controller import SessionController
from lightsheet.gui.docks.base import ControlDock
from lightsheet.gui.preview import voxel_geometry
from lightsheet.gui.processing_view import MetricPlot, ResultLayer
from lightsheet.processing.processors import BUILTINS, ImageProcessor, settings_of

log = logging.getLogger("lightsheet.gui")

POLL_MS = 50
CUSTOM = "custom"
INT_LIMIT = 1_000_000_000
FLOAT_LIMIT = 1e12


class ProcessingDock(ControlDock):
    """Choose, tune and watch the live processor."""

    def __init__(
        self, controller: SessionController, viewer: ViewerModel, parent: QWidget | None = None
    ) -> None:
        super().__init__("Processing", controller, parent)
        self.results = ResultLayer(viewer)
        self.choice = QComboBox()
        self.choice.addItem("none", "")
        for name in BUILTINS:
            self.choice.addItem(name, name)
        self.choice.addItem("your own class…", CUSTOM)
        self.add_row("Processor", self.choice, "Runs on every frame it can take, never slowing "
                     "the acquisition")  # fmt: skip
        self.custom = QLineEdit()
        self.custom.setPlaceholderText("package.module:Class or path/to/file.py:Class")
        self.load = QPushButton("Load")
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.custom)
        line.addWidget(self.load)
        self.add_row("Class", row, "An ImageProcessor subclass of yours")
        self.enabled = self._toggle("Processing on", True, self._set_enabled)
        self.multi_core = self._toggle("On a core of its own (own process)", True,
                                       lambda on: self._update(multi_core=on))  # fmt: skip
        self.shared_memory = self._toggle("Results through shared memory", False,
                                          lambda on: self._update(shared_memory=on))  # fmt: skip
        self.save = self._toggle("Save results with each run (/processed)", False,
                                 lambda on: self._update(save=on))  # fmt: skip
        self.settings_box = QWidget()
        self.settings_form = QFormLayout(self.settings_box)
        self.settings_form.setContentsMargins(0, 0, 0, 0)
        self.add_widget(self.settings_box)
        self.status = QLabel("no processor")
        self.status.setWordWrap(True)
        self.add_widget(self.status)
        self.details = QPushButton("Show the traceback…")
        self.details.clicked.connect(self._show_traceback)
        self.details.hide()
        self.add_widget(self.details)
        self.plot = MetricPlot()
        self.plot.hide()
        self.add_widget(self.plot)
        self.traceback = ""
        self.shown: ImageProcessor | None = None  # the processor whose widgets are shown
        self.setting_widgets: dict[str, QWidget] = {}
        self._wire()

    def _wire(self) -> None:
        self.choice.currentIndexChanged.connect(self._on_choice)
        self.load.clicked.connect(self.apply_choice)
        self.custom.returnPressed.connect(self.apply_choice)
        self.lock_during_acquisition(self.choice, self.custom, self.load, self.multi_core,
                                     self.shared_memory, self.save)  # fmt: skip
        self.controller.started.connect(self._on_started)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)
        self._timer.start()
        self._on_choice()

    def _toggle(self, text: str, checked: bool, call: Callable[[bool], None]) -> QCheckBox:
        box = QCheckBox(text)
        box.setChecked(checked)
        box.toggled.connect(call)
        self.add_widget(box)
        return box

    # -- choosing --------------------------------------------------------------------------------

    def spec(self) -> str:
        """The processor the widgets name ("" for none)."""
        data = self.choice.currentData()
        return self.custom.text().strip() if data == CUSTOM else str(data or "")

    def apply_choice(self) -> None:
        """Run the chosen processor (built on the command thread: a process may start)."""
        spec = self.spec()
        processing = self.controller.session.processing
        config = processing.config
        options = dict(config.options) if spec and spec == config.name else {}
        if self.shown is not None and spec == processing.config.name:
            options.update(settings_of(self.shown))  # a new session keeps what was tuned here
        self.show_error("")
        self.controller.submit(lambda: self._set(spec, options), lambda _: self._show_processor(),
                               lambda exc: self.show_error(str(exc)))  # fmt: skip

    def _set(self, spec: str, options: dict[str, Any]) -> None:
        processing = self.controller.session.processing
        processing.update_config(name=spec or None, options=options)  # none clears it
        if processing.processor is None and spec:  # the same name as before, cleared since
            processing.set_processor(spec, options)

    def _on_choice(self, *_: object) -> None:
        custom = self.choice.currentData() == CUSTOM
        self.custom.setEnabled(custom)
        self.load.setEnabled(custom)
        if not custom and self.spec() != (self.controller.session.processing.config.name or ""):
            self.apply_choice()

    def _on_started(self) -> None:
        """A new session (a restart): run what the dock shows, as it was tuned."""
        processing = self.controller.session.processing
        processing.set_enabled(self.enabled.isChecked())
        if self.spec() and processing.processor is None:
            self.apply_choice()
        self._show_processor()

    # -- settings ---------------------------------------------------------------------------------

    def _show_processor(self) -> None:
        """Widgets for the running processor's settings and for its argument-free methods."""
        processing = self.controller.session.processing
        local = processing.processor
        self.shown = local
        while self.settings_form.rowCount():
            self.settings_form.removeRow(0)
        self.setting_widgets = {}
        config = processing.config
        self._show_name(config.name or "")
        self._set_checked(self.multi_core, config.multi_core)
        self._set_checked(self.shared_memory, config.shared_memory)
        self._set_checked(self.save, config.save)
        if local is None:
            self.results.remove()
            self.plot.hide()
            return
        ranges = type(local).ranges
        for name, value in settings_of(local).items():
            widget = self._setting_widget(name, value, ranges.get(name))
            self.setting_widgets[name] = widget
            self.settings_form.addRow(name, widget)
        for name in actions_of(local):
            button = QPushButton(name.replace("_", " "))
            button.setToolTip(f"pipe_message({name!r}): call it on the running copy")
            button.clicked.connect(lambda _=False, n=name: self._pipe(n))
            self.settings_form.addRow("", button)

    def _setting_widget(self, name: str, value: object,
                        bounds: tuple[float, float] | None) -> QWidget:  # fmt: skip
        if isinstance(value, bool):
            box = QCheckBox()
            box.setChecked(value)
            box.toggled.connect(lambda v: self._set_setting(name, v))
            return box
        if isinstance(value, (int, float)):
            spin: QSpinBox | QDoubleSpinBox
            if isinstance(value, int):
                spin = QSpinBox()
                low, high = bounds or (-INT_LIMIT, INT_LIMIT)
                spin.setRange(int(low), int(high))
            else:
                spin = QDoubleSpinBox()
                spin.setDecimals(4)
                low, high = bounds or (-FLOAT_LIMIT, FLOAT_LIMIT)
                spin.setRange(float(low), float(high))
            spin.setKeyboardTracking(False)
            spin.setValue(value)
            spin.valueChanged.connect(lambda v: self._set_setting(name, v))
            return spin
        edit = QLineEdit(str(value))
        edit.editingFinished.connect(lambda: self._set_setting(name, edit.text()))
        return edit

    def _set_setting(self, name: str, value: object) -> None:
        try:
            self.controller.session.processing.set_setting(name, value)
        except Exception as exc:  # a value the processor refuses: said here, nothing sent
            self.show_error(str(exc))
            return
        self.show_error("")

    def _pipe(self, name: str) -> None:
        try:
            self.controller.session.processing.pipe_message(name)
        except Exception as exc:
            self.show_error(str(exc))

    def _set_enabled(self, on: bool) -> None:
        self.controller.session.processing.set_enabled(on)

    def _update(self, **changes: Any) -> None:
        processing = self.controller.session.processing
        self.controller.submit(lambda: processing.update_config(**changes), None,
                               lambda exc: self.show_error(str(exc)))  # fmt: skip

    # -- watching ---------------------------------------------------------------------------------

    def poll(self) -> None:
        """Newest result, counters and errors; runs on a timer in the Qt thread."""
        controller = self.controller
        if not controller.ready:
            return
        processing = controller.session.processing
        if processing.processor is not self.shown:
            self._show_processor()
        result = processing.latest_result()
        if result is not None:
            if result.is_scalar:
                self.plot.set_values([v for _, _, v in processing.metric_history()],
                                     f"{processing.config.name or 'metric'} per frame")  # fmt: skip
                self.plot.show()
            else:
                self.results.show(result.data, *self._geometry(result.data.shape))
        self._show_stats()
        for event in processing.take_events():
            self.show_error(event.text)
            self.traceback = event.traceback
            self.details.setVisible(bool(event.traceback))

    def _show_stats(self) -> None:
        stats = self.controller.session.processing.stats()
        if not stats.processor:
            self.status.setText("no processor")
            return
        where = {"process": "own process", "thread": "thread"}.get(stats.where, "")
        self.status.setText(
            f"{stats.processor}: {stats.state}{' in its ' + where if where else ''}, "
            f"settings v{stats.version}\n{stats.fps:.1f} frames/s, {stats.frames} processed, "
            f"{stats.skipped} skipped\n{stats.results} results, {stats.results_dropped} dropped, "
            f"{stats.results_unseen} not shown, latency {stats.latency_ms:.1f} ms, "
            f"errors {stats.errors}"
        )

    def _geometry(self, shape: tuple[int, ...]) -> tuple[tuple[float, float] | None,
                                                          tuple[float, float]]:  # fmt: skip
        """(scale, origin) of the preview in µm, for a result as large as a frame."""
        config = self.controller.config
        if tuple(shape[-2:]) != tuple(config.camera.frame_shape):
            return None, (0.0, 0.0)
        scale, translate = voxel_geometry(config, [0.0])
        return (scale[1], scale[2]), (translate[1], translate[2])

    def _show_traceback(self) -> None:
        box = QMessageBox(QMessageBox.Warning, "The processor raised", self.error_label.text(),
                          QMessageBox.Close, self)  # fmt: skip
        box.setDetailedText(self.traceback)
        box.show()

    def show_config(self, config: RigConfig) -> None:
        """The processing section may have changed (the config editor): show what runs."""
        if self.controller.ready:
            self._show_processor()

    def _show_name(self, name: str) -> None:
        for widget in (self.choice, self.custom):
            widget.blockSignals(True)
        index = self.choice.findData(name if name in BUILTINS or not name else CUSTOM)
        self.choice.setCurrentIndex(index)
        if name and name not in BUILTINS:
            self.custom.setText(name)
        custom = self.choice.currentData() == CUSTOM
        self.custom.setEnabled(custom)
        self.load.setEnabled(custom)
        for widget in (self.choice, self.custom):
            widget.blockSignals(False)

    @staticmethod
    def _set_checked(box: QCheckBox, checked: bool) -> None:
        was = box.blockSignals(True)
        box.setChecked(checked)
        box.blockSignals(was)


def actions_of(processor: ImageProcessor) -> list[str]:
    """Public methods of the processor's own class that take no argument (buttons)."""
    names = []
    for name, member in inspect.getmembers(type(processor), inspect.isfunction):
        if name.startswith("_") or hasattr(ImageProcessor, name):
            continue
        required = [p for p in list(inspect.signature(member).parameters.values())[1:]
                    if p.default is inspect.Parameter.empty]  # fmt: skip
        if not required:
            names.append(name)
    return names
