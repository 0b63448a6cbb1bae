"""The processor API: built-ins compute what they say, names resolve (or are refused in one
line), settings keep their types, the engine frames volumes by frame id and survives a raise."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from lightsheet.config.processing_section import BUILTIN_PROCESSORS
from lightsheet.processing.builtin_processors import (
    BackgroundSubtraction,
    FlatFieldCorrection,
    FocusMetric,
    MaxProjection,
    RunningMean,
)
from lightsheet.processing.engine import ProcessorEngine
from lightsheet.processing.processor_channel import SettingsMirror
from lightsheet.processing.processors import (
    BUILTINS,
    ProcessorSpecError,
    create_processor,
    resolve_class,
    saved_name,
    settings_of,
)
from tests.live.helpers import Explode, Scale, frame_image


def frames(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(100, 4000, size=(6, 8), dtype=np.uint16) for _ in range(count)]


# -- built-ins ------------------------------------------------------------------------------------


def test_the_config_and_the_api_name_the_same_builtins():
    assert set(BUILTIN_PROCESSORS) == set(BUILTINS)
    for name in BUILTINS:
        assert saved_name(create_processor(name)) == name


def test_background_from_a_stored_image_and_from_a_captured_frame(tmp_path):
    first, second = frames(2)
    background = np.full((6, 8), 150.0, dtype=np.float32)
    np.save(tmp_path / "bg.npy", background)
    processor = create_processor("background", {"background_path": str(tmp_path / "bg.npy")})
    expected = np.maximum(first.astype(np.float32) - 150.0, 0)
    np.testing.assert_array_equal(processor.process(first), expected)
    processor.capture()  # the next frame becomes the background
    np.testing.assert_array_equal(processor.process(first), np.zeros((6, 8), np.float32))
    assert processor.process(second).max() > 0


def test_background_without_an_image_or_of_another_size_raises_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match="no background image"):
        BackgroundSubtraction().process(frames(1)[0])
    np.save(tmp_path / "small.npy", np.zeros((3, 3)))
    processor = create_processor("background", {"background_path": str(tmp_path / "small.npy")})
    with pytest.raises(ValueError, match=r"\(3, 3\) image, frames are \(6, 8\)"):
        processor.process(frames(1)[0])


def test_flatfield_evens_out_the_illumination(tmp_path):
    flat = np.linspace(1000, 3000, 48, dtype=np.float32).reshape(6, 8)
    np.save(tmp_path / "flat.npy", flat)
    processor = FlatFieldCorrection()
    processor.flat_path, processor.dark_level = str(tmp_path / "flat.npy"), 100.0
    sample = (flat - 100) * 0.5 + 100  # a uniform sample under that illumination
    corrected = processor.process(sample.astype(np.uint16))
    assert corrected.std() / corrected.mean() < 1e-3


def test_running_mean_is_exact_over_the_last_n_frames():
    data = frames(7)
    processor = RunningMean()
    processor.frames = 3
    results = [processor.process(frame) for frame in data]
    for k, result in enumerate(results):
        window = np.stack(data[max(0, k - 2) : k + 1]).astype(np.float64)
        np.testing.assert_array_equal(result, window.mean(axis=0).astype(np.float32))


def test_focus_metric_is_the_normalised_variance_and_prefers_sharp_images():
    sharp = np.zeros((32, 32), np.uint16)
    sharp[::2, ::2] = 1000
    blurred = np.full((32, 32), 250, np.uint16)
    blurred[0, 0] = 260
    metric = FocusMetric()
    assert metric.process(sharp) == pytest.approx(sharp.var() / sharp.mean())
    assert metric.process(sharp) > 100 * metric.process(blurred)


# -- names and settings ----------------------------------------------------------------------------


def test_user_classes_by_module_path_and_by_file(tmp_path):
    assert resolve_class("tests.live.helpers:Scale") is Scale
    assert resolve_class("tests.live.helpers.Scale") is Scale
    source = tmp_path / "mine.py"
    source.write_text(textwrap.dedent("""
        from lightsheet.processing import ImageProcessor
        class Double(ImageProcessor):
            def __init__(self):
                self.gain = 2
            def process(self, frame):
                return frame * self.gain
    """))
    processor = create_processor(f"{source}:Double", {"gain": "3"})
    assert processor.gain == 3 and saved_name(processor) == "double"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nope", "not a built-in processor"),
        ("no.such.module:Thing", "cannot import no.such.module"),
        ("tests.live.helpers:Nothing", "has no class Nothing"),
        ("tests.live.helpers:frame_image", "is not a subclass of ImageProcessor"),
        ("/no/such/file.py:Thing", "no such file"),
    ],
)
def test_a_name_that_is_no_processor_is_refused_with_the_reason(spec, message):
    with pytest.raises(ProcessorSpecError, match=message):
        resolve_class(spec)


def test_settings_are_public_plain_attributes_converted_to_their_type():
    processor = create_processor("mean", {"frames": "5"})
    assert settings_of(processor) == {"frames": 5}
    assert "_buffer" not in settings_of(processor)
    with pytest.raises(ProcessorSpecError, match=r"no setting 'size' \(its settings: frames\)"):
        create_processor("mean", {"size": 2})
    with pytest.raises(ProcessorSpecError, match="setting frames: expected a whole number"):
        create_processor("mean", {"frames": 2.5})
    background = create_processor("background", {"clip_negative": "no", "offset": "7"})
    assert background.clip_negative is False and background.offset == 7.0


# -- the engine ------------------------------------------------------------------------------------


def engine_with(processor, on_error="off", max_restarts=3):
    engine, mirror = ProcessorEngine(on_error, max_restarts), SettingsMirror()
    assert engine.apply(mirror.set(processor, type(processor).__module__ + ":" +
                                   type(processor).__qualname__)) is None  # fmt: skip
    return engine, mirror


def test_max_projection_ends_each_volume_by_frame_id_even_when_frames_were_skipped():
    engine, _ = engine_with(MaxProjection())
    data = {k: frame_image(k) for k in range(12)}
    results = []
    for k in (0, 1, 2, 4, 5, 9, 10):  # volume 0 complete, 1 lacks its last plane, 2 lacks one
        outputs, failure = engine.frame(data[k], k, run=1, planes=3, host_ts=0.0)
        assert failure is None
        results += outputs
    outputs, _ = engine.end_open_volume()  # the run ended after frame 10
    results += outputs
    assert [(r.volume, r.frame_id, r.frames) for r in results] == [
        (0, 2, 3), (1, 5, 2), (3, 10, 2)]  # fmt: skip
    np.testing.assert_array_equal(results[1].data, np.maximum(data[4], data[5]))
    assert all(r.per_volume for r in results)


def test_a_raising_processor_is_switched_off_until_new_settings():
    engine, mirror = engine_with(Explode())
    outputs, failure = engine.frame(frame_image(3), 3, 1, 1, 0.0)
    assert outputs == [] and failure is not None and failure.action == "switched off"
    assert "RuntimeError: cannot process frame 3" in failure.traceback
    assert "process(frame 3 of run 1)" in failure.message
    assert engine.frame(frame_image(4), 4, 1, 1, 0.0) == ([], None)  # off: frames ignored
    engine.apply(mirror.update_settings())  # new settings switch it on again
    outputs, failure = engine.frame(frame_image(4), 4, 1, 1, 0.0)
    assert failure is None and float(outputs[0].data) == 1.0


def test_a_raising_processor_is_rebuilt_as_it_was_set_at_most_max_restarts_times():
    engine, mirror = engine_with(Explode(), on_error="restart", max_restarts=2)
    engine.apply(mirror.pipe_message("bad", "1,2"))  # the rebuild replays this message
    actions = [engine.frame(frame_image(k), k, 1, 1, 0.0)[1] for k in (0, 1, 2, 3)]
    assert actions[0] is None and actions[3] is None
    assert [a.action for a in actions[1:3] if a] == ["restarted", "restarted"]
    assert engine.remote.processor.bad == "1,2"  # type: ignore[union-attr]
    assert engine.frame(frame_image(1), 1, 2, 1, 0.0)[1].action == "switched off"  # type: ignore[union-attr]
