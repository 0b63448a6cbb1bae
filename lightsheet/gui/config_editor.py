"""The config editor: the rig's YAML, validated on every change, saved with its comments.

"Valid" means the rig will run it: after the schema, the scan goes through the Session's own
timing and waveform-limit checks (for the config's scan mode and the one the rig is in), exactly
as ``lightsheet config check``. Errors appear as ``FILE:LINE: key: message`` with their lines
marked, and a click on one jumps to its line. "Apply to rig" sends the text's config to the
running rig (the docks then show it); a refused Apply says why and leaves the text as it is.
When the docks change a setting while the text still says what the rig runs with, the change is
merged into the text keeping every comment, so "Save" writes what the rig runs with.
"""

from __future__ import annotations

import logging
from pathlib import Path

from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lightsheet.app.limits import config_issues
from lightsheet.config import (
    ConfigError,
    RigConfig,
    default_config_text,
    document_text,
    dump_config,
    parse_config_text,
    parse_document_text,
    update_document,
)
from lightsheet.config.yaml_io import read_text, write_text
from lightsheet.gui.code_editor import CodeEditor
from lightsheet.gui.controller import SessionController

log = logging.getLogger("lightsheet.gui")

VALIDATE_DELAY_MS = 150
ERROR_COLOUR = "#d62728"
UNSAVED = "<unsaved>"


def annotated_text(config: RigConfig) -> str:
    """``config`` as YAML with every key's description above it, like config/simulated.yaml."""
    document = parse_document_text(default_config_text())
    return document_text(update_document(document, config))


class ConfigEditor(QWidget):
    """Open, edit (validated as you type), save and apply a rig config."""

    validated = Signal(object)  # RigConfig, or None when the text has errors
    path_changed = Signal(object)  # Path | None

    def __init__(
        self,
        controller: SessionController,
        path: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.path = Path(path) if path is not None else None
        self.config: RigConfig | None = None  # the text's config when it is valid
        self.errors: list = []
        self._saved_text = ""
        self._rig_config = controller.config  # what the text was last in step with
        self._applying: RigConfig | None = None  # sent by Apply, not yet taken by the rig
        self._build()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(VALIDATE_DELAY_MS)
        self._timer.timeout.connect(self.validate)
        self.editor.textChanged.connect(self._timer.start)
        self.open_button.clicked.connect(self.choose_file)
        self.save_button.clicked.connect(lambda: self.save())
        self.save_as_button.clicked.connect(self.choose_save_path)
        self.apply_button.clicked.connect(self.apply)
        self.reload_button.clicked.connect(self.take_rig_settings)
        controller.config_changed.connect(self.on_rig_config)
        controller.acquisition_changed.connect(self._on_acquisition)
        controller.mode_changed.connect(lambda _mode: self._timer.start())  # checked per mode
        if self.path is not None and self.path.exists():
            self.load(self.path)
        else:
            self.set_text(annotated_text(controller.config))
            self._saved_text = ""
        self._show_path()

    def _build(self) -> None:
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open…")
        self.save_button = QPushButton("Save")
        self.save_as_button = QPushButton("Save as…")
        self.apply_button = QPushButton("Apply to rig")
        self.reload_button = QPushButton("Take rig settings")
        self.reload_button.setToolTip("Merge the rig's current settings into the text")
        for button in (self.open_button, self.save_button, self.save_as_button,
                       self.apply_button, self.reload_button):  # fmt: skip
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.file_label = QLabel()
        buttons.addWidget(self.file_label)
        self.editor = CodeEditor()
        self.editor.setMinimumHeight(48)
        self.error_list = QListWidget()  # under the text, only while there are errors
        self.error_list.setMaximumHeight(70)
        self.error_list.hide()
        self.error_list.itemActivated.connect(self._jump)
        self.error_list.itemClicked.connect(self._jump)
        self.state = QLabel()
        self.state.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.error_list)
        layout.addWidget(self.state)

    # -- text ---------------------------------------------------------------------------------

    @property
    def source(self) -> str:
        return str(self.path) if self.path is not None else UNSAVED

    def text(self) -> str:
        return self.editor.toPlainText()

    def set_text(self, text: str, keep_position: bool = False) -> None:
        line = self.editor.textCursor().blockNumber() + 1
        self.editor.setPlainText(text)
        if keep_position:
            self.editor.go_to_line(line)
        self.validate()

    def validate(self) -> RigConfig | None:
        """Check the text now; errors are listed with their lines and marked."""
        self._timer.stop()
        self.error_list.clear()
        try:
            config = self._usable_config()
        except ConfigError as exc:
            self.config = None
            self.errors = list(exc.issues)
            for issue in self.errors:
                item = QListWidgetItem(str(issue))
                item.setData(Qt.UserRole, issue.line)
                item.setForeground(QColor(ERROR_COLOUR))
                self.error_list.addItem(item)
            self.editor.mark_lines([i.line for i in self.errors if i.line is not None])
            self.error_list.show()
            self.state.setText(f"{len(self.errors)} error(s): the config cannot be used")
            self.state.setStyleSheet("color: #d62728")
        else:
            self.config = config
            self.errors = []
            self.editor.mark_lines([])
            self.error_list.hide()
            self.state.setText(self._describe_state())
            self.state.setStyleSheet("")
        self._update_buttons()
        self.validated.emit(self.config)
        return self.config

    def _usable_config(self) -> RigConfig:
        """The text's config if the rig will run it, else ConfigError with every reason."""
        config = parse_config_text(self.text(), source=self.source)
        modes = {config.scanning.mode, self.controller.scan_mode_for(config)}
        document = parse_document_text(self.text(), self.source)
        issues = config_issues(config, document, self.source, sorted(modes))
        if issues:
            raise ConfigError(issues)
        return config

    def error_lines(self) -> list[int | None]:
        return [issue.line for issue in self.errors]

    # -- files --------------------------------------------------------------------------------

    def load(self, path: Path) -> bool:
        try:
            text = read_text(path)
        except ConfigError as exc:
            self.state.setText(str(exc))
            self.state.setStyleSheet("color: #d62728")
            return False
        self.path = Path(path)
        self._saved_text = text
        self.set_text(text)
        self._show_path()
        return True

    def save(self, path: Path | None = None) -> bool:
        """Write the text (comments and all); refused while it has errors."""
        target = Path(path) if path is not None else self.path
        if target is None:
            self.choose_save_path()
            return self.path is not None and self._saved_text == self.text()
        if self.validate() is None:
            first = self.errors[0]
            where = f" (line {first.line})" if first.line is not None else ""
            self.state.setText(f"not saved: fix the errors first{where}")
            return False
        try:
            write_text(target, self.text())
        except ConfigError as exc:
            self.state.setText(str(exc))
            self.state.setStyleSheet("color: #d62728")
            return False
        self.path = target
        self._saved_text = self.text()
        self._show_path()
        self.validate()
        log.info("config saved to %s", target)
        return True

    def choose_file(self) -> None:
        start = str(self.path.parent) if self.path else str(Path.cwd())
        name, _ = QFileDialog.getOpenFileName(self, "Open config", start, "YAML (*.yaml *.yml)")
        if name:
            self.load(Path(name))

    def choose_save_path(self) -> None:
        start = str(self.path) if self.path else str(Path.cwd() / "rig.yaml")
        name, _ = QFileDialog.getSaveFileName(self, "Save config", start, "YAML (*.yaml *.yml)")
        if name:
            self.save(Path(name))

    # -- the rig ------------------------------------------------------------------------------

    def apply(self) -> bool:
        """Send the text's config to the running rig; the text stays as it is either way."""
        config = self.validate()
        if config is None:
            return False
        if config == self.controller.config:
            self._rig_config = config
            self.state.setText("the rig already runs this config")
            return True
        self._applying = config
        self.state.setText("applying to the rig…")
        self.controller.apply_config(config, on_refused=self._refused)
        return True

    def _refused(self, message: str) -> None:
        self._applying = None
        self.state.setText(f"not applied, the rig refused it (your text is kept): {message}")
        self.state.setStyleSheet("color: #d62728")

    def take_rig_settings(self) -> None:
        """Merge the rig's settings into the text, keeping its comments and layout."""
        config = self.controller.config
        try:
            document = parse_document_text(self.text(), self.source)
        except ConfigError:
            text = dump_config(config)
        else:
            text = document_text(update_document(document, config))
        self._rig_config = config
        if text != self.text():
            self.set_text(text, keep_position=True)

    def on_rig_config(self, config: RigConfig) -> None:
        """The rig's settings changed: follow them when the text said what the rig ran with."""
        if self._applying is not None and config == self._applying:
            self._applying = None
            self._rig_config = config
            self.state.setText("applied to the rig")
            self.state.setStyleSheet("")
            return
        if config == self._rig_config:
            return
        if self.config is not None and self.config == self._rig_config:
            self.take_rig_settings()
        else:
            self.state.setText(
                "the rig's settings changed; 'Take rig settings' merges them into the text"
            )

    def _on_acquisition(self, running: bool) -> None:
        self._update_buttons()

    # -- display ------------------------------------------------------------------------------

    def _update_buttons(self) -> None:
        valid = self.config is not None
        running = self.controller.acquiring
        self.apply_button.setEnabled(valid and not running)
        if running:
            self.apply_button.setToolTip("Locked during an acquisition")
        elif not valid:
            self.apply_button.setToolTip("Fix the errors first")
        else:
            self.apply_button.setToolTip("Send this config to the running rig")
        self.save_button.setEnabled(valid)
        self.save_button.setToolTip("Write the file, comments kept" if valid else "Fix the errors")

    def _describe_state(self) -> str:
        dirty = self.text() != self._saved_text
        parts = ["valid"]
        if dirty:
            parts.append("unsaved changes")
        if self.config is not None and self.config != self.controller.config:
            parts.append("differs from the rig (Apply to send it)")
        return ", ".join(parts)

    def _show_path(self) -> None:
        self.file_label.setText(self.source)
        self.path_changed.emit(self.path)

    def _jump(self, item: QListWidgetItem) -> None:
        line = item.data(Qt.UserRole)
        if line:
            self.editor.go_to_line(int(line))
