"""Everything decided before any data moves: inputs checked, the output's geometry, the
operations as they are recorded, and which engine runs them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lightsheet.postprocess.options import ProcessingInputError, ProcessOptions
from lightsheet.postprocess.references import load_reference
from lightsheet.postprocess.source import SourceRun, open_source
from lightsheet.processing.corrections import binned_shape, correction_gain
from lightsheet.processing.pool import DEFAULT_BACKEND
from lightsheet.processing.shared_array import fits_in_memory, human_bytes

FORMULA = "(raw - dark) / (flat - dark) * mean(flat - dark), 0 where flat <= dark"


@dataclass
class Plan:
    options: ProcessOptions
    source: SourceRun
    dark: np.ndarray | None
    gain: np.ndarray | None
    engine: str  # "processes", "threads" or "dask"

    @property
    def factor(self) -> int:
        return self.options.bin_factor

    @property
    def out_frame_shape(self) -> tuple[int, int]:
        return binned_shape(self.source.shape[2:], self.factor)

    @property
    def out_volume_shape(self) -> tuple[int, int, int]:
        return (self.source.shape[1], *self.out_frame_shape)

    @property
    def volumes(self) -> int:
        return self.source.shape[0]

    def operations(self) -> list[dict[str, Any]]:
        """The operations in the order they are applied, as metadata records them."""
        ops: list[dict[str, Any]] = [{"op": "convert", "dtype": "float32"}]
        if self.dark is not None or self.gain is not None:
            ops.append(
                {
                    "op": "background_correction",
                    "dark": _name(self.options.dark),
                    "flat": _name(self.options.flat),
                    "formula": FORMULA if self.gain is not None else "raw - dark",
                    "missing_planes": "left zero",
                }
            )
        if self.factor > 1:
            ops.append(
                {
                    "op": "bin",
                    "factor": self.factor,
                    "method": "mean",
                    "dropped_edge_px": [
                        self.source.shape[2] % self.factor,
                        self.source.shape[3] % self.factor,
                    ],
                }
            )
        if self.options.max_projection:
            ops.append({"op": "max_projection", "axis": "z", "dataset": "/max_projection"})
        return ops

    def output_attrs(self) -> dict[str, Any]:
        attrs = self.source.extra_attrs
        pixel = attrs.get("pixel_size_um")
        if pixel is not None and self.factor > 1:
            attrs["pixel_size_um"] = float(pixel) * self.factor
        attrs["source_run"] = str(self.source.path)
        attrs["operations"] = self.operations()
        return attrs


def _name(path: Path | None) -> str | None:
    return None if path is None else str(Path(path).expanduser().resolve())


def shared_bytes(source: SourceRun, factor: int, max_projection: bool) -> int:
    """Shared memory the pool path needs: the float32 stack, binned planes, projections."""
    t, z, y, x = source.shape
    stack = t * z * y * x * 4
    h, w = binned_shape((y, x), factor)
    binned = t * z * h * w * 4 if factor > 1 else 0
    projection = t * h * w * 4 if max_projection else 0
    return stack + binned + projection + 2 * y * x * 4 + t * z * 9


def choose_engine(options: ProcessOptions, needed: int) -> str:
    if options.scheduler:
        return "dask"
    if options.engine != "auto":
        if options.engine != "dask" and not fits_in_memory(needed):
            raise ProcessingInputError(
                f"this run needs {human_bytes(needed)} of shared memory, more than is free: "
                "use --engine dask (or auto)"
            )
        return options.engine
    return DEFAULT_BACKEND if fits_in_memory(needed) else "dask"


def _check_paths(options: ProcessOptions, source: SourceRun) -> None:
    out = Path(options.out_dir).expanduser().resolve()
    if out == source.path or source.path in out.parents:
        raise ProcessingInputError(f"--out {out}: must not be the source run or inside it")
    for what, ref in (("dark", options.dark), ("flat", options.flat)):
        if ref is not None and Path(ref).expanduser().resolve() == out:
            raise ProcessingInputError(f"--out {out}: is also the --{what} run")


def make_plan(options: ProcessOptions) -> Plan:
    """Check every input and decide how to run; ProcessingInputError names what is wrong."""
    if not (options.dark or options.flat or options.max_projection or options.bin_factor > 1):
        raise ProcessingInputError(
            "nothing to do: give --dark, --flat, --bin N or --max-projection"
        )
    source = open_source(options.run_dir)
    _check_paths(options, source)
    frame_shape = source.shape[2:]
    try:
        binned_shape(frame_shape, options.bin_factor)
    except ValueError as exc:
        raise ProcessingInputError(f"--bin {options.bin_factor}: {exc}") from None
    dark = load_reference(options.dark, frame_shape, "dark") if options.dark else None
    gain = None
    if options.flat:
        flat = load_reference(options.flat, frame_shape, "flat")
        try:
            gain = correction_gain(dark, flat)
        except ValueError as exc:
            raise ProcessingInputError(f"--flat {options.flat}: {exc}") from None
    needed = shared_bytes(source, options.bin_factor, options.max_projection)
    engine = choose_engine(options, needed)
    return Plan(options, source, dark, gain, engine)
