"""500 generated config files a run: a clear message or a working rig, never a traceback."""

from __future__ import annotations

import io
import math
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from lightsheet.app.session import Session, SessionConfigError
from lightsheet.cli.main import main
from lightsheet.config import RigConfig, load_config

DEFAULT = RigConfig().model_dump(mode="json")
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
)  # fmt: skip
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=8), inner, max_size=3), max_leaves=6)  # fmt: skip


def paths(tree: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix] if prefix else []
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += paths(value, (*prefix, key))
    return found


KEYS = paths(DEFAULT)


@st.composite
def documents(draw: st.DrawFn) -> str:
    """The default config with a few keys changed, removed or made up, or some broken text."""
    tree = draw(st.just(None).map(lambda _: _copy(DEFAULT)))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(KEYS))
        parent = _walk(tree, path[:-1])
        if not isinstance(parent, dict):
            continue
        action = draw(st.sampled_from(("value", "delete", "unknown", "nearby")))
        if action == "value":
            parent[path[-1]] = draw(values)
        elif action == "delete":
            parent.pop(path[-1], None)
        elif action == "unknown":
            parent[draw(st.text(min_size=1, max_size=8))] = draw(values)
        elif isinstance(parent.get(path[-1]), (int, float)) and not isinstance(
            parent.get(path[-1]), bool
        ):
            parent[path[-1]] = parent[path[-1]] * draw(st.sampled_from((-1, 0, 0.5, 3, 1e6)))
    stream = io.StringIO()
    YAML().dump(tree, stream)
    text = stream.getvalue()
    if draw(st.integers(0, 9)) == 0:  # now and then, text that is not YAML at all
        cut = draw(st.integers(0, len(text)))
        junk = draw(st.sampled_from(("\t:\n", "[[", "{a: 1", "\x00", ": :")))
        text = text[:cut] + junk + text[cut:]
    return text


def _copy(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _copy(v) for k, v in tree.items()}
    return list(tree) if isinstance(tree, list) else tree


def _walk(tree: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


started: list[int] = []
SESSIONS_STARTED = 3  # a few usable configs really run their processes; the rest stop at preflight


@settings(max_examples=500, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=documents())
def test_config_check_and_session_start_never_raise(tmp_path_factory, text: str) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "rig.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["config", "check", str(path)])
    assert code in (0, 2), (code, err.getvalue())
    if code == 2:
        lines = err.getvalue().strip().splitlines()
        assert lines and "Traceback" not in err.getvalue(), err.getvalue()
        assert all(line.startswith(str(path)) or ": " in line for line in lines), lines
        return
    config = load_config(path)
    session = Session(config, log_dir=folder / "logs")
    try:
        session.preflight()
    except SessionConfigError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    if len(started) < SESSIONS_STARTED and config.trigger.mode == "none" and _small(config):
        started.append(1)
        with session:
            assert session.fault is None


def _small(config: RigConfig) -> bool:
    camera = config.camera
    return camera.sensor_width * camera.sensor_height <= 1024 * 1024 and math.isfinite(
        config.buffers.frame_ring_mb + config.buffers.volume_ring_mb
    ) and config.buffers.frame_ring_mb + config.buffers.volume_ring_mb < 2048
