"""Image processing: live processors run on frames while the rig acquires (``processors``,
``builtin_processors``, ``processor_channel``, ``engine``, ``results``), and parallel processing
of saved runs on shared arrays (``shared_array``, ``pool``, ``corrections``); numpy and shared
memory only, no file formats.

Write a live processor by subclassing ``ImageProcessor`` (see ``processors``).
"""

from lightsheet.processing.processors import ImageProcessor

__all__ = ["ImageProcessor"]
