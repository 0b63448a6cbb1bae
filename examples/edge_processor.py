"""A custom live processor: the edges of every frame (gradient magnitude), for focusing by eye.

Run it on the simulated rig from the repository's root folder:

    lightsheet acquire --config examples/edge_processing.yaml --volumes 10 --out runs/edges
    lightsheet gui --config examples/edge_processing.yaml

or name it yourself: ``--processor examples/edge_processor.py:EdgeMagnitude`` on the command line,
``processing.name: examples/edge_processor.py:EdgeMagnitude`` in a config, or type the same into
the GUI's Processing dock. A class in an installed package is named ``package.module:Class``.

What a processor is (``lightsheet.processing.ImageProcessor``):

- It is built with no arguments; its *settings* are its public attributes holding a bool, an int,
  a float or a str. The GUI makes a widget of each (``ranges`` bounds the numeric ones), and the
  config's ``processing.options`` and ``--processor-option KEY=VALUE`` set them by name.
- ``process(frame)`` gets each frame as a read-only (y, x) uint16 array, valid during the call,
  and returns an image of any shape and dtype, a number, or None. Return a new array: the frame
  is reused for the next one. Frames may be skipped when the processor is slower than the camera
  (the count of those is shown and saved); the acquisition itself is never slowed.
- ``begin_volume(volume)``/``end_volume(volume)`` frame each volume; ``end_volume`` may return
  the volume's result (see the built-in max-projection).
- Anything that is not a setting (caches, accumulators) goes in attributes starting with ``_``.

Changing it while it runs, from your own code (``session.processing`` in a script, or a GUI
plugin): either change the local object and call ``update_settings()``, which sends a pickled
copy that replaces the running one (its state starts over), or call
``pipe_message("threshold", 50.0)`` / ``pipe_message("reset_peak")``, which sets an attribute or
calls a method on the running copy only (fast; your local copy is then stale). Pick one of the
two for a processor: an ``update_settings()`` after ``pipe_message`` calls undoes them.

If it raises, the traceback goes to the processor's log and to the GUI, and it is switched off
(``processing.on_error: off``) or rebuilt (``restart``); the acquisition goes on either way.
"""

from __future__ import annotations

import numpy as np

from lightsheet.processing import ImageProcessor


class EdgeMagnitude(ImageProcessor):
    """|∇I| of each frame, optionally with weak edges set to 0 and scaled to the peak seen."""

    name = "edges"  # saved as /processed/edges with processing.save: true
    ranges = {"threshold": (0.0, 65535.0)}  # noqa: RUF012 (read-only class data)

    def __init__(self) -> None:
        self.threshold = 0.0  # gradients below this are shown as 0
        self.normalise = False  # divide by the largest gradient seen so far
        self._peak = 0.0

    def reset_peak(self) -> None:
        """Forget the largest gradient seen (``pipe_message("reset_peak")``)."""
        self._peak = 0.0

    def process(self, frame: np.ndarray) -> np.ndarray:
        dy, dx = np.gradient(frame.astype(np.float32))
        magnitude = np.hypot(dy, dx)
        if self.threshold > 0:
            magnitude[magnitude < self.threshold] = 0
        if self.normalise:
            self._peak = max(self._peak, float(magnitude.max()))
            if self._peak > 0:
                magnitude /= self._peak
        return magnitude
