"""The ranges and refusals of lightsheet.app.limits agree with the waveform builder the Session
uses: what is refused does not play, every fix offered plays, and a range's ends are the last
values that play."""

from __future__ import annotations

import pytest

from lightsheet.app import limits
from lightsheet.app.limits import EXPOSURE, PLANAR_Z, PLANES, VOLUME_RATE, Z_END
from lightsheet.app.scan_plan import ScanConfigError, scan_waveforms
from lightsheet.config import RigConfig, parse_config_text, parse_document_text


def rig(**sections) -> RigConfig:
    """The default rig with some keys of some sections changed (the rest of each kept)."""
    return merged(RigConfig(), **sections)


def merged(config: RigConfig, **sections) -> RigConfig:
    data = config.model_dump()
    for section, values in sections.items():
        data[section].update(values)
    return RigConfig.model_validate(data)


def plays(config: RigConfig, mode: str = "volumetric") -> bool:
    try:
        scan_waveforms(config, mode)
    except ScanConfigError:
        return False
    return True


def with_fix(config: RigConfig, fix: limits.Fix) -> RigConfig:
    section, key = fix.key.split(".")
    return merged(config, **{section: {key: fix.value}})


def test_the_default_rig_plays_and_its_exposure_may_reach_the_plane_period() -> None:
    config = rig()
    assert limits.refusals(config, "volumetric") == []
    ranges = limits.field_ranges(config, "volumetric")
    # 40 planes at 2 volumes/s with a 10 % flyback: 0.9 / 80 s per plane.
    assert ranges[EXPOSURE].high == pytest.approx(11.25)
    assert ranges[EXPOSURE].text() == "0.01–11.25 ms"
    assert plays(rig(camera={"exposure_ms": 11.25}))
    assert not plays(rig(camera={"exposure_ms": 11.3}))


def test_exposure_12_is_refused_at_the_exposure_with_fixes_that_play() -> None:
    config = rig(camera={"exposure_ms": 12.0})
    (refusal,) = limits.refusals(config, "volumetric")
    assert refusal.key == EXPOSURE
    assert "11.25 ms" in refusal.message and "volts" not in refusal.message
    labels = [fix.label for fix in refusal.fixes]
    assert labels == ["lower the volume rate to 1.87/s", "shorten the exposure to 11.25 ms"]
    for fix in refusal.fixes:
        assert plays(with_fix(config, fix)), fix


def test_a_timing_conflict_is_reported_at_the_field_the_operator_changed() -> None:
    faster = rig(scanning={"volume_rate_hz": 5.0})
    (refusal,) = limits.refusals(faster, "volumetric", changed=[VOLUME_RATE])
    assert refusal.key == VOLUME_RATE and "at most 2.25 volumes/s" in refusal.message
    assert refusal.fixes[0].label == "set 2.25 volumes/s"
    more = rig(scanning={"n_planes": 100})
    (refusal,) = limits.refusals(more, "volumetric", changed=[PLANES])
    assert refusal.key == PLANES and refusal.fixes[0] == limits.Fix(PLANES, 45, "use 45 planes")
    for config, found in ((faster, VOLUME_RATE), (more, PLANES)):
        (refusal,) = limits.refusals(config, "volumetric", changed=[found])
        assert all(plays(with_fix(config, fix)) for fix in refusal.fixes)


@pytest.mark.parametrize(
    ("planes", "rate", "flyback"), [(40, 2.0, 0.1), (7, 0.3, 0.2), (200, 0.5, 0.05), (3, 30, 0.3)]
)
def test_the_ranges_end_where_the_builder_starts_refusing(planes, rate, flyback) -> None:
    scan = {"n_planes": planes, "volume_rate_hz": rate, "flyback_fraction": flyback}
    config = rig(scanning=scan, camera={"exposure_ms": 1.0})
    ranges = limits.field_ranges(config, "volumetric")
    longest = ranges[EXPOSURE].high
    assert plays(merged(config, camera={"exposure_ms": longest}))
    assert not plays(merged(config, camera={"exposure_ms": longest + 0.06}))
    fastest = ranges[VOLUME_RATE].high
    assert plays(merged(config, scanning={"volume_rate_hz": fastest}))
    most = ranges[PLANES].high
    assert plays(merged(config, scanning={"n_planes": most}))
    if most < 2000:  # the config's own ceiling
        assert not plays(merged(config, scanning={"n_planes": most + 1}))


def test_z_beyond_what_piezo_and_galvo_reach_is_refused_in_micrometres() -> None:
    # piezo 0-10 V at 40 µm/V, z galvo ±5 V at 0.02 V/µm - 2 V: 0-350 µm for both.
    assert limits.z_range_um(rig()) == limits.Range(0.0, 350.0, "µm")
    config = rig(scanning={"z_end_um": 400.0})
    (refusal,) = limits.refusals(config, "volumetric", changed=[Z_END])
    assert refusal.key == Z_END and "0–350 µm" in refusal.message
    assert refusal.fixes == (limits.Fix(Z_END, 350.0, "set 350 µm"),)
    assert plays(with_fix(config, refusal.fixes[0]))
    planar = rig(scanning={"planar_z_um": -5.0})
    (refusal,) = limits.refusals(planar, "planar")
    assert refusal.key == PLANAR_Z and refusal.fixes[0].value == 0.0


def test_planar_stretches_the_frame_to_any_exposure() -> None:
    config = rig(camera={"exposure_ms": 500.0})
    assert limits.refusals(config, "planar") == []
    assert limits.field_ranges(config, "planar")[EXPOSURE].high == 10000.0
    assert limits.refusals(config, "volumetric")[0].key == EXPOSURE


def test_a_scan_too_fast_for_the_piezos_steps_gets_a_volume_rate_that_plays() -> None:
    config = rig(scanning={"volume_rate_hz": 40.0}, camera={"exposure_ms": 0.2})
    (refusal,) = limits.refusals(config, "volumetric", changed=[VOLUME_RATE])
    assert refusal.key == VOLUME_RATE and "piezo" in refusal.message
    assert " V" not in refusal.message, "the step limit is said without the board's volts"
    (fix,) = refusal.fixes
    assert fix.key == VOLUME_RATE and fix.value < 40.0
    assert plays(with_fix(config, fix))


def test_every_problem_is_named_and_fixed_on_its_own() -> None:
    config = rig(camera={"exposure_ms": 20.0}, scanning={"z_end_um": 400.0})
    found = {r.key: r for r in limits.refusals(config, "volumetric")}
    assert set(found) == {EXPOSURE, Z_END}
    assert found[EXPOSURE].fixes and found[Z_END].fixes


def test_config_issues_name_the_line_of_the_key() -> None:
    text = "# my rig\ncamera:\n  binning: 1\n  exposure_ms: 12\n"
    config = parse_config_text(text, "rig.yaml")
    document = parse_document_text(text, "rig.yaml")
    (issue,) = limits.config_issues(config, document, "rig.yaml")
    assert str(issue).startswith("rig.yaml:4: camera.exposure_ms: 12 ms does not fit")
    assert "fix: lower the volume rate to 1.87/s" in str(issue)
    assert limits.config_issues(config, document, "rig.yaml", modes=["planar"]) == []
