"""The shipped contract suites: a subclass missing a hook fails loudly; the app needs no pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lightsheet.testing import CameraContract, DaqBoardContract, TriggerPortContract

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("contract", "hook", "args"),
    [
        (CameraContract, "make_camera", ()),
        (DaqBoardContract, "make_board", ()),
        (DaqBoardContract, "read_outputs", (None,)),
        (DaqBoardContract, "arrivals", ()),
        (TriggerPortContract, "make_link", ()),
    ],
)
def test_a_backend_missing_a_hook_is_told_which(contract: type, hook: str, args: tuple) -> None:
    """Every contract test then errors with this message instead of passing or being skipped."""
    incomplete = type("TestIncompleteBackend", (contract,), {})()
    with pytest.raises(NotImplementedError, match=rf"TestIncompleteBackend must implement {hook}"):
        getattr(incomplete, hook)(*args)


IMPORT_WITHOUT_PYTEST = """
import importlib, pkgutil, sys
for blocked in ("pytest", "_pytest", "hypothesis"):
    sys.modules[blocked] = None  # import of it now raises ImportError
import lightsheet
skip = ("lightsheet.testing", "lightsheet.gui", "lightsheet.__main__")
names = [m.name for m in pkgutil.walk_packages(lightsheet.__path__, "lightsheet.")]
for name in names:
    if not name.startswith(skip):
        importlib.import_module(name)
try:
    import lightsheet.testing
except ImportError:
    print(len(names))  # the block works: the one package that needs pytest did not load
"""


def test_the_application_imports_without_pytest() -> None:
    """Every module outside ``lightsheet.testing`` loads with pytest and hypothesis absent.

    The GUI is left out only to keep napari's import time out of the test; import-linter's
    contract covers it statically.
    """
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_WITHOUT_PYTEST],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 50
