"""Saving dock: where the next run goes, how long it lasts, how it is compressed.

The warning under the run name is checked as the operator types: a run folder that already
holds a run will be replaced (Start asks first), any other non-empty folder is refused, exactly
as ``prepare_run_folder`` decides for the command line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QWidget,
)

from lightsheet.app.planning import planned_run_bytes
from lightsheet.app.scan_plan import ScanConfigError
from lightsheet.config import RigConfig
from lightsheet.gui.controller import SessionController
from lightsheet.gui.docks.base import ControlDock, changed_config
from lightsheet.gui.docks.camera import pair
from lightsheet.storage.space import RESERVE_BYTES, free_bytes


@dataclass(frozen=True)
class RunRequest:
    """What Start needs: the run folder, volumes or duration, and whether it replaces a run."""

    folder: Path
    volumes: int | None
    duration_s: float | None
    replaces_run: bool
    refusal: str | None  # why this folder cannot take a run, or None


def folder_state(folder: Path) -> tuple[bool, str | None]:
    """(replaces an earlier run, refusal) for a run folder, as prepare_run_folder decides."""
    if folder.exists() and not folder.is_dir():
        return False, f"{folder.name} exists and is not a folder"
    if folder.is_dir() and any(folder.iterdir()):
        if (folder / "metadata.json").exists():
            return True, None
        return False, f"{folder.name} is not empty and not a lightsheet run; choose another name"
    return False, None


def next_run_name(parent: Path, prefix: str = "run") -> str:
    """``run-001``, ``run-002``… the first that does not exist yet under ``parent``."""
    index = 1
    while (parent / f"{prefix}-{index:03d}").exists():
        index += 1
    return f"{prefix}-{index:03d}"


def name_after(parent: Path, used: str) -> str:
    """The name after ``used`` that is free under ``parent``: its number plus one, as wide
    (``mouse-07`` -> ``mouse-08``, ``run-009`` -> ``run-010``), or ``-002`` added to a name
    without a number."""
    match = re.fullmatch(r"(.*?)(\d+)", used)
    stem, number, width = (match[1], int(match[2]), len(match[2])) if match else (f"{used}-", 1, 3)
    while True:
        number += 1
        name = f"{stem}{number:0{width}d}"
        if not (parent / name).exists():
            return name


GB = 1e9


class SavingDock(ControlDock):
    """Folder, run name, volumes or duration, compression, and the overwrite warning."""

    folder_changed = Signal(object)  # Path of the parent folder (for the free-space display)

    def __init__(self, controller: SessionController, parent: QWidget | None = None) -> None:
        super().__init__("Saving", controller, parent)
        folder_row = QWidget()
        row = QHBoxLayout(folder_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.folder = QLineEdit()
        self.folder.setToolTip("Folder that holds the run folders")
        self.browse = QPushButton("…")
        self.browse.setToolTip("Choose the folder")
        self.browse.clicked.connect(self.choose_folder)
        row.addWidget(self.folder, 1)
        row.addWidget(self.browse)
        self.add_row("Folder", folder_row)
        self.run_name = QLineEdit()
        self.add_row("Run name", self.run_name, "Name of the run folder inside the folder")
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.form.addRow(self.warning)
        self.by_volumes = QRadioButton("Volumes")
        self.by_duration = QRadioButton("Duration")
        self.amount_group = QButtonGroup(self)
        self.amount_group.addButton(self.by_volumes)
        self.amount_group.addButton(self.by_duration)
        self.volumes = QSpinBox()
        self.volumes.setRange(1, 10_000_000)
        self.volumes.setValue(10)
        self.duration = QDoubleSpinBox()
        self.duration.setRange(0.1, 7 * 24 * 3600.0)
        self.duration.setDecimals(1)
        self.duration.setSuffix(" s")
        self.duration.setValue(60.0)
        self.form.addRow(self.by_volumes, self.volumes)
        self.form.addRow(self.by_duration, self.duration)
        self.by_volumes.setChecked(True)
        self._add_compression_and_space()
        self.folder.editingFinished.connect(self._folder_edited)
        self.run_name.textChanged.connect(self.check_folder)
        self.by_volumes.toggled.connect(self.check_space)
        self.by_volumes.toggled.connect(self._amount_changed)
        self.watch(self.folder, self.compression, self.level)
        self.lock_during_acquisition(
            self.folder,
            self.browse,
            self.run_name,
            self.by_volumes,
            self.by_duration,
            self.volumes,
            self.duration,
            self.compression,
            self.level,
        )
        self.refresh()
        self.run_name.setText(next_run_name(self.parent_folder()))
        self._amount_changed()

    def _add_compression_and_space(self) -> None:
        self.compression = QComboBox()
        self.compression.addItems(["none", "blosc-lz4", "blosc-zstd"])
        self.compression.setToolTip("Compression of the saved frames")
        self.level = QSpinBox()
        self.level.setRange(0, 9)
        self.level.setPrefix("level ")
        self.level.setToolTip("Compression level; ignored without compression")
        self.add_row("Compression", pair(self.compression, self.level))
        self.space = QLabel()
        self.space.setWordWrap(True)
        self.space.setToolTip("What the planned run writes (uncompressed) against the free space")
        self.form.addRow(self.space)
        for widget in (self.volumes, self.duration):
            widget.valueChanged.connect(self.check_space)

    # -- config -------------------------------------------------------------------------------

    def show_config(self, config: RigConfig) -> None:
        saving = config.saving
        if self.folder.text() != saving.default_dir:
            self.folder.setText(saving.default_dir)
            self.folder_changed.emit(self.parent_folder())
        self.compression.setCurrentText(saving.compression)
        self.level.setValue(saving.compression_level)
        self.check_folder()
        self.check_space()

    def config_from_widgets(self, config: RigConfig) -> RigConfig:
        return changed_config(
            config,
            {
                "saving.default_dir": self.folder.text().strip() or "~/lightsheet-data",
                "saving.compression": self.compression.currentText(),
                "saving.compression_level": self.level.value(),
            },
        )

    # -- the next run -------------------------------------------------------------------------

    def parent_folder(self) -> Path:
        return Path(self.folder.text().strip() or "~/lightsheet-data").expanduser()

    def run_folder(self) -> Path:
        return self.parent_folder() / self.run_name.text().strip()

    def request(self) -> RunRequest:
        """The run Start would begin now."""
        name = self.run_name.text().strip()
        folder = self.run_folder()
        replaces, refusal = folder_state(folder)
        if not name or "/" in name or name in (".", ".."):
            refusal = "give the run a name (a folder name, no '/')"
        by_volumes = self.by_volumes.isChecked()
        return RunRequest(
            folder=folder,
            volumes=self.volumes.value() if by_volumes else None,
            duration_s=None if by_volumes else self.duration.value(),
            replaces_run=replaces,
            refusal=refusal,
        )

    def check_folder(self, *_: object) -> None:
        """Show whether the run folder is new, replaces a run, or is refused."""
        request = self.request()
        if request.refusal:
            self.warning.setText(f"✖ {request.refusal}")
            self.warning.setStyleSheet("color: #d62728")
        elif request.replaces_run:
            self.warning.setText(
                f"⚠ {request.folder.name} already holds a run: starting replaces it"
            )
            self.warning.setStyleSheet("color: #e07000")
        else:
            self.warning.setText(f"→ {request.folder}")
            self.warning.setStyleSheet("color: gray")

    def check_space(self, *_: object) -> None:
        """Say how much the planned run writes and warn when the disk cannot hold it."""
        config = self.controller.config
        request = self.request()
        try:
            mode = self.controller.scan_mode_for(config)
            planned = planned_run_bytes(config, mode, request.volumes, request.duration_s)
            free = free_bytes(self.parent_folder())
        except (OSError, ValueError, ScanConfigError):
            self.space.setText("")
            return
        text = f"writes up to {planned / GB:.2f} GB; {free / GB:.1f} GB free"
        if planned + RESERVE_BYTES > free:
            self.space.setText(f"⚠ {text}: the run will not fit and would stop when the disk fills")
            self.space.setStyleSheet("color: #d62728")
        else:
            self.space.setText(text)
            self.space.setStyleSheet("color: gray")

    def advance_run_name(self) -> None:
        """After a run: the next name of the same series, so the next Start never replaces it."""
        used = self.run_name.text().strip()
        parent = self.parent_folder()
        self.run_name.setText(name_after(parent, used) if used else next_run_name(parent))

    def choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(
            self, "Folder for runs", str(self.parent_folder())
        )
        if chosen:
            self.folder.setText(chosen)
            self._folder_edited()
            self.schedule_apply()

    def _folder_edited(self) -> None:
        self.folder_changed.emit(self.parent_folder())
        self.check_folder()
        self.check_space()

    def _amount_changed(self, *_: object) -> None:
        by_volumes = self.by_volumes.isChecked()
        locked = self.controller.acquiring
        self.volumes.setEnabled(by_volumes and not locked)
        self.duration.setEnabled(not by_volumes and not locked)

    def set_locked(self, locked: bool) -> None:
        super().set_locked(locked)
        if not locked:
            self._amount_changed()
            self.check_folder()
