"""``acquire``'s live-processor options: --processor, --processor-option, --save-processed.

They override the config's ``processing`` section and are checked before anything is started:
an unknown processor, a setting it does not have or a value of the wrong type is one line and
exit code 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pydantic import ValidationError

from lightsheet.cli.parser import UsageError
from lightsheet.config import ProcessingConfig, RigConfig
from lightsheet.processing.processors import ProcessorSpecError, create_processor


def parse_option(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` as (key, value text); the processor converts the text to its setting's type."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--processor-option {text!r}: expected KEY=VALUE, e.g. frames=8")
    return key.strip(), value.strip()


def apply_processor_options(config: RigConfig, args: argparse.Namespace) -> None:
    """Merge the options into ``config.processing`` and check the processor they name."""
    name = args.processor or config.processing.name
    if (args.processor_option or args.save_processed) and not name:
        raise UsageError("--processor-option and --save-processed need --processor NAME")
    if not name:
        return
    options: dict[str, object] = {} if args.processor else dict(config.processing.options)
    options.update(parse_option(text) for text in args.processor_option)
    try:
        processor = create_processor(name, options)  # what the session builds: refused now
    except ProcessorSpecError as exc:
        raise UsageError(f"--processor {name}: {exc}") from None
    typed = {key: getattr(processor, key) for key in options}  # "8" -> 8 for an int setting
    merged = {**config.processing.model_dump(), "name": name, "options": typed}
    if args.save_processed:
        merged["save"] = True
    try:
        config.processing = ProcessingConfig.model_validate(merged)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise UsageError(f"--processor {name}: {where}: {problem['msg']}") from None


def print_processed(folder: Path) -> None:
    """One line per processor whose results were saved into the run."""
    try:
        metadata = json.loads((Path(folder) / "metadata.json").read_text())
    except (OSError, ValueError):
        return
    saved = (metadata.get("processing") or {}).get("saved") or {}
    for name, summary in saved.items():
        print(
            f"processed:       /processed/{name}: {summary['results']} result(s), "
            f"{summary['frames_not_processed']} frame(s) not processed"
        )
