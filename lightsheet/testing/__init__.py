"""Device contract suites a backend author runs against a new backend by subclassing.

One pytest base class per device kind: ``CameraContract``, ``DaqBoardContract`` and
``TriggerPortContract``. Subclass one as ``TestSomething``, implement its factory hooks, and pytest
collects every contract test for the new backend (see README, "Adding a device backend").

This package needs pytest and hypothesis (``pip install lightsheet[testing]``); nothing else in
lightsheet imports it, so the application runs without them.
"""

import pytest

# Before the suites are imported: pytest then rewrites their asserts and a failing contract test
# shows the values it compared, as it would in a test module.
pytest.register_assert_rewrite(
    "lightsheet.testing.camera_contract",
    "lightsheet.testing.daq_contract",
    "lightsheet.testing.trigger_port_contract",
)

from lightsheet.testing.camera_contract import CameraContract  # noqa: E402
from lightsheet.testing.daq_contract import DaqBoardContract  # noqa: E402
from lightsheet.testing.trigger_port_contract import FarEnd, TriggerPortContract  # noqa: E402

__all__ = ["CameraContract", "DaqBoardContract", "FarEnd", "TriggerPortContract"]
