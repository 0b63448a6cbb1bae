"""Small modules and short functions (the project's style rule): fail with the offenders.

No module in lightsheet/ over 400 lines, no function over 60 lines; the simulated NI gRPC
servicer is exempt (one method per RPC of the NI-DAQmx service, by design).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
EXEMPT = {"lightsheet/rehearsal/servicer.py"}


def offenders(root: Path) -> list[str]:
    found = []
    for path in sorted(root.glob("lightsheet/**/*.py")):
        name = path.relative_to(root).as_posix()
        if name in EXEMPT:
            continue
        text = path.read_text()
        lines = text.count("\n")
        if lines > MAX_MODULE_LINES:
            found.append(f"{name}: {lines} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(
                        f"{name}:{node.lineno}: {node.name}() has {length} lines "
                        f"(at most {MAX_FUNCTION_LINES})"
                    )
    return found


if __name__ == "__main__":
    problems = offenders(Path(__file__).resolve().parents[1])
    for line in problems:
        print(line)
    sys.exit(1 if problems else 0)
