"""Processing saved runs into new runs: background correction, binning and maximum
projections, on the shared-array worker pool (`lightsheet.processing`) when the run fits in
memory, on a dask.distributed cluster when it does not (or when a scheduler is given).

This layer reads and writes the run format through `lightsheet.storage`; the numerical work and
the shared memory live in `lightsheet.processing`, which knows no file format.
"""

from lightsheet.postprocess.options import (
    ENGINES,
    ProcessingInputError,
    ProcessOptions,
    Step,
)
from lightsheet.postprocess.run import Outcome, process_run

__all__ = ["ENGINES", "Outcome", "ProcessOptions", "ProcessingInputError", "Step", "process_run"]
