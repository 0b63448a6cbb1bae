"""A new processing section (the config editor, the GUI) changes only what it names, live; a
refused one changes nothing; the rig's processes never restart for it."""

from __future__ import annotations

import pytest

from lightsheet.app.config_change import changes
from lightsheet.app.errors import SessionConfigError
from lightsheet.app.live_processing import LiveProcessing
from lightsheet.config import ProcessingConfig, RigConfig


def test_new_settings_go_to_the_same_processor_and_a_refused_one_changes_nothing():
    processing = LiveProcessing(ProcessingConfig(name="mean", options={"frames": 4}))
    processing.prepare()
    local = processing.processor
    assert local is not None and local.frames == 4 and processing.version == 1
    processing.configure(processing.config.updated(options={"frames": 6}))
    assert processing.processor is local and local.frames == 6  # kept: a message, no new copy
    assert processing.version == 2
    with pytest.raises(SessionConfigError, match="no setting 'size'"):
        processing.configure(processing.config.updated(options={"size": 1}))
    assert processing.config.options == {"frames": 6} and processing.version == 2
    processing.configure(processing.config.updated(name="focus", options={}))
    assert type(processing.processor).__name__ == "FocusMetric"
    processing.configure(processing.config.updated(name=None))
    assert processing.processor is None and processing.stats().state == "none"


def test_a_processing_change_never_restarts_the_rig():
    old = RigConfig()
    new = old.updated(processing={"name": "focus", "multi_core": False})
    change = changes(old, new)
    assert change.processing and not (change.restart or change.all_processes or change.scan)
    assert "the live processor is reconfigured" in change.describe()


def test_a_bad_processor_name_is_refused_by_the_config():
    with pytest.raises(ValueError, match="'sharpen' is not a built-in processor"):
        ProcessingConfig(name="sharpen")
    assert ProcessingConfig(name="  ").name is None
