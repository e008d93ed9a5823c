"""Loading and validating device profiles, and the SunSpec overlay's points."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from pv_collector.errors import ProfileError
from pv_collector.model import DataType, Function, Writable
from pv_collector.profile import (
    SHIPPED_DIR,
    build_sunspec_points,
    counter_rate_problems,
    list_profiles,
    load_profile,
)
from pv_collector.sunspec_models import list_sunspec_models, load_sunspec_model, overlay_entries

SHIPPED = sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))
OVERLAID_MODELS = sorted(overlay_entries())

GOOD_POINT = """
  - key: power
    name: Power
    address: 10
    type: s32
    unit: W
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def profile_text(points: str, extra: str = "", pid: str = "bad") -> str:
    return f"id: {pid}\nname: Bad device\n{extra}points:\n{textwrap.dedent(points)}"


def error_of(tmp_path: Path, points: str, extra: str = "") -> str:
    path = write(tmp_path, "bad.yaml", profile_text(points, extra))
    with pytest.raises(ProfileError) as err:
        load_profile(str(path))
    return str(err.value)


@pytest.mark.parametrize("profile_id", SHIPPED)
def test_every_shipped_profile_loads(profile_id: str) -> None:
    profile = load_profile(profile_id)
    assert profile.id == profile_id
    assert profile.points or profile.sunspec_base is not None
    keys = [p.key for p in profile.points]
    assert len(keys) == len(set(keys))
    for point in profile.points:
        assert point.words <= profile.max_block
        if point.writable is not None:
            assert point.function is Function.HOLDING
        if point.kind == "number" and point.writable is not None:
            assert point.writable.min is not None
            assert point.writable.max is not None


@pytest.mark.parametrize("model", OVERLAID_MODELS)
def test_every_overlaid_sunspec_model_loads(model: int) -> None:
    definition = load_sunspec_model(model)
    assert definition is not None
    assert definition.model == model
    points = definition.points(definition.length_for(modules=8))
    keys = {p.key for p in points}
    for point in points:
        if point.sf is not None:
            assert point.sf in keys
        if point.type is DataType.SUNSSF:
            assert point.hidden
            assert point.invalid == (0x8000,)


def test_the_sunspec_profile_takes_every_model_the_device_reports() -> None:
    profile = load_profile("sunspec")
    assert profile.sunspec_base == 40000
    assert profile.sleeps_at_night
    assert profile.sunspec_models == ()  # no list: every model with a definition
    assert {1, 701, 713, 714, 802} <= set(list_sunspec_models())  # the DER models and the battery
    assert OVERLAID_MODELS == [
        1,
        101,
        102,
        103,
        111,
        112,
        113,
        120,
        121,
        122,
        123,
        124,
        160,
        201,
        202,
        203,
        204,
        701,
        702,
        713,
        714,
        802,
    ]


def test_sunspec_sentinels_and_derived_kinds() -> None:
    inverter = {p.key: p for p in load_sunspec_model(103).points()}  # type: ignore[union-attr]
    assert inverter["ac_voltage_l1"].invalid == (0xFFFF,)
    assert inverter["ac_power"].invalid == (0x8000,)
    assert inverter["energy_total"].invalid == (0,)  # acc32
    assert inverter["status"].kind == "enum"
    assert inverter["events"].kind == "bitfield"
    assert inverter["events"].role == "fault"
    controls = {p.key: p for p in load_sunspec_model(123).points()}  # type: ignore[union-attr]
    assert controls["power_limit"].writable == Writable(min=0, max=100, step=1)
    assert controls["power_limit_enabled"].kind == "bool"
    common = {p.key: p for p in load_sunspec_model(1).points()}  # type: ignore[union-attr]
    assert common["serial"].info == "serial"
    assert common["serial"].hidden


def test_defaults_apply_and_points_override_them() -> None:
    sdm = {p.key: p for p in load_profile("sdm630").points}
    assert sdm["power"].function is Function.INPUT
    assert sdm["power"].type is DataType.F32
    sungrow = {p.key: p for p in load_profile("sungrow_sh_rt").points}
    assert sungrow["energy_total"].word_order == "little"
    assert sungrow["ems_mode"].function is Function.HOLDING
    assert sungrow["ems_mode"].kind == "enum"
    assert sungrow["export_limit_enabled"].kind == "bool"
    assert sungrow["export_limit_enabled"].on_value == 0xAA
    assert sungrow["serial"].hidden
    assert sungrow["serial"].kind == "text"


def test_load_by_path_by_id_from_user_dir_and_list(tmp_path: Path) -> None:
    write(tmp_path, "mine.yaml", profile_text(GOOD_POINT, pid="mine"))
    assert load_profile("mine", [tmp_path]).points[0].type is DataType.S32
    assert load_profile(str(tmp_path / "mine.yaml")).id == "mine"
    assert "mine" in list_profiles([tmp_path])
    assert "sdm630" in list_profiles([tmp_path])
    # a user profile with a shipped id takes precedence
    write(tmp_path, "sdm630.yaml", profile_text(GOOD_POINT, pid="sdm630"))
    assert len(load_profile("sdm630", [tmp_path]).points) == 1


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ProfileError, match=r"unknown profile 'nope' \(known profiles: .*sdm630"):
        load_profile("nope")
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile("/no/such/profile.yaml")


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "id: broken\nname: [unclosed\n")
    with pytest.raises(ProfileError, match=r"broken.yaml:\d+:\d+: YAML syntax error"):
        load_profile(str(path))


def test_a_key_given_twice_is_refused_like_in_the_configuration(tmp_path: Path) -> None:
    """PyYAML keeps the second of two equal keys silently: a profile whose point says `scale` twice would
    be read with one of them. Profiles are read like configuration files: the second one is an error."""
    text = profile_text(GOOD_POINT, pid="twice").replace("id: twice\n", "id: twice\nid: twice\n", 1)
    path = write(tmp_path, "twice.yaml", text)
    with pytest.raises(ProfileError, match=r"twice.yaml:2:1: YAML syntax error: key 'id' is given twice"):
        load_profile(str(path))


def test_id_must_match_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, "other.yaml", profile_text(GOOD_POINT, pid="bad"))
    with pytest.raises(
        ProfileError, match=re.escape("other.yaml: id: 'bad' must equal the file name 'other'")
    ):
        load_profile(str(path))


@pytest.mark.parametrize(
    ("points", "extra", "expected"),
    [
        (
            "  - {key: soc, name: SoC, address: 1, function: input, writable: {min: 0, max: 100}}\n",
            "",
            "bad.yaml: points[0] (soc).writable: only holding points can be writable (this one is input)",
        ),
        (
            "  - {key: soc, name: SoC, address: 1, writable: {step: 1}}\n",
            "",
            "points[0] (soc).writable: writable numbers need min and max",
        ),
        (
            "  - {key: soc, name: SoC, address: 1, writable: {min: 10, max: 5}}\n",
            "",
            "points[0] (soc).writable: min 10 is greater than max 5",
        ),
        (
            "  - {key: a, name: A, address: 1}\n  - {key: a, name: A again, address: 2}\n",
            "",
            "points[1] (a).key: duplicate key (first used by points[0])",
        ),
        (
            "  - {key: a, name: A, address: 1}\n",
            "limits: {max_block: 200}\n",
            "bad.yaml: limits.max_block: 200 is not a valid value (expected 1..125)",
        ),
        (
            "  - {key: mode, name: Mode, address: 1, options: {'0': off, '1': on_grid}}\n",
            "",
            "points[0] (mode).options.0: key '0' is not a valid value (expected an integer",
        ),
        (
            "  - {key: mode, name: Mode, address: 1, options: {0: Running}}\n",
            "",
            "points[0] (mode).options[0]: 'Running' is not a valid value (expected an option name",
        ),
        (
            "  - {key: mode, name: Mode, address: 1, options: {0: off}}\n",
            "",
            "points[0] (mode).options[0]: false is not a valid value (expected an option name: a-z, 0-9 and "
            "'_'): YAML reads unquoted on/off",
        ),
        (
            "  - {key: Power, name: P, address: 1}\n",
            "",
            "points[0] (Power).key: 'Power' is not a valid value (expected a point key",
        ),
        (
            "  - {key: p, name: P, address: 1, adress: 2}\n",
            "",
            "points[0] (p).adress: unknown field",
        ),
        (
            "  - {key: p, name: P, type: u16}\n",
            "",
            "points[0] (p).address: required field is missing",
        ),
        (
            "  - {key: p, name: P, address: 1, type: u17}\n",
            "",
            "points[0] (p).type: 'u17' is not a valid value (expected one of u16 | s16",
        ),
        (
            "  - {key: w, name: W, address: 1, sf: w_sf}\n",
            "",
            "points[0] (w).sf: no point has the key 'w_sf'",
        ),
        (
            "  - {key: w, name: W, address: 1, sf: x}\n  - {key: x, name: X, address: 2}\n",
            "",
            "points[0] (w).sf: point 'x' is not a sunssf point",
        ),
        (
            "  - {key: alarms, name: Alarms, address: 1, type: bitfield16}\n",
            "",
            "points[0] (alarms).bits: bitfield16 points need bits",
        ),
        (
            "  - {key: alarms, name: Alarms, address: 1, type: bitfield16, bits: {16: x}}\n",
            "",
            "points[0] (alarms).bits: bit 16 does not exist in bitfield16",
        ),
        (
            "  - {key: s, name: S, address: 1, type: string, count: 40}\n",
            "limits: {max_block: 20}\n",
            "points[0] (s).count: 40 registers exceed limits.max_block 20",
        ),
        (
            "  - {key: p, name: P, address: 1, range: [10, 0]}\n",
            "",
            "points[0] (p).range: min 10 is greater than max 0",
        ),
        (
            "  - {key: p, name: P, address: 1, role: solar}\n",
            "",
            "points[0] (p).role: 'solar' is not a valid value (expected one of pv_power",
        ),
        (
            "  - {key: b, name: B, address: 1, function: input, kind: action}\n",
            "",
            "points[0] (b).kind: action points must be holding registers",
        ),
        (
            "  - {key: p, name: P, address: 65535, type: u32}\n",
            "",
            "points[0] (p).address: 2 registers from 65535 run past 65535",
        ),
        (
            "  - {key: p, name: P, address: 1, scale: 0}\n",
            "",
            "points[0] (p).scale: 0 is not a valid value (expected a finite number other than 0)",
        ),
        (
            "  - {key: on, name: P, address: 1, hidden: yes}\n",
            "",
            "points[0].key: true is not a valid value (expected a point key",
        ),
        (  # issue 15: a counter without a physical rate bound
            "  - {key: e, name: E, address: 1, type: u32, unit: kWh, device_class: energy,\n"
            "     state_class: total_increasing}\n",
            "",
            "bad.yaml: points (e): a total_increasing counter needs max_rate, or the profile's max_power",
        ),
        (  # max_power bounds energy counters only
            "  - {key: gas, name: Gas, address: 1, type: u32, unit: m³, state_class: total_increasing}\n",
            "max_power: 5000\n",
            "points (gas): a total_increasing counter needs max_rate",
        ),
        (
            "  - {key: p, name: P, address: 1, resets: daily}\n",
            "",
            "points[0] (p).resets: only total_increasing points take resets",
        ),
        (
            "  - {key: p, name: P, address: 1, unit: V}\n",
            "rated_power_point: p\n",
            "rated_power_point: 'p' is not a point of this profile with unit W or kW",
        ),
        (  # issue 15 section 6: no NaN anywhere a number is read
            "  - {key: p, name: P, address: 1, scale: .nan}\n",
            "",
            "points[0] (p).scale: nan is not a valid value (expected a finite number",
        ),
        (
            "  - {key: p, name: P, address: 1, range: [0, .inf]}\n",
            "",
            "points[0] (p).range[1]: inf is not a valid value (expected a finite number)",
        ),
    ],
)
def test_bad_profiles_give_specific_messages(tmp_path: Path, points: str, extra: str, expected: str) -> None:
    assert expected in error_of(tmp_path, points, extra)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        "  - {key: a, name: A, address: -1}\n  - {key: b, name: B, address: 1, function: input, "
        "writable: {min: 0, max: 1}}\n",
        "kind: toaster\n",
    )
    # the top level fails first; fix it and the points are checked
    assert "kind: 'toaster' is not a valid value (expected one of inverter" in message
    message = error_of(
        tmp_path,
        "  - {key: a, name: A, address: -1}\n  - {key: b, name: B, address: 1, function: input, "
        "writable: {min: 0, max: 1}}\n",
    )
    assert "points[0] (a).address: -1 is not a valid value (expected 0..65535)" in message
    assert "points[1] (b).writable: only holding points can be writable" in message


def test_profile_needs_points(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.yaml", "id: empty\nname: Empty\n")
    with pytest.raises(ProfileError, match=re.escape("empty.yaml: points: a profile needs points")):
        load_profile(str(path))


@pytest.mark.parametrize("profile_id", SHIPPED)
def test_every_counter_of_every_shipped_profile_has_a_rate_bound(profile_id: str) -> None:
    """Issue 15: every total_increasing point (SunSpec models included) has a physical rate bound."""
    assert counter_rate_problems(load_profile(profile_id)) == []


def test_a_sunspec_profile_without_max_power_does_not_load(tmp_path: Path) -> None:
    """SunSpec energy counters declare no max_rate: without the profile's max_power they are unbounded."""
    text = (SHIPPED_DIR / "sunspec.yaml").read_text().replace("max_power: 1000000\n", "")
    text = text.replace("id: sunspec", "id: my_sunspec")
    path = write(tmp_path, "my_sunspec.yaml", text)
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    assert "sunspec model 203 (energy_export): a total_increasing counter needs max_rate" in str(caught.value)


def test_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "list.yaml", "- a\n- b\n")
    with pytest.raises(ProfileError, match="is a YAML mapping"):
        load_profile(str(path))


def test_sunspec_points_are_checked_by_the_rules_of_every_point() -> None:
    """A SunSpec point the overlay gets wrong is reported with its model and SunSpec point id."""
    raws = [
        {"key": "ac_power", "name": "AC power", "address": 12, "type": "s16", "writable": True},
        {"key": "status", "name": "Operating state", "address": 36, "type": "string", "count": 1,
         "options": {1: "off"}},
    ]  # fmt: skip
    with pytest.raises(ProfileError) as caught:
        build_sunspec_points(raws, "model_103.json", ["model 103 W", "model 103 St"])
    assert str(caught.value).splitlines() == [
        "model_103.json: model 103 W (ac_power).writable: writable numbers need {min, max, step}, not true",
        "model_103.json: model 103 St (status).type: enum points need an integer type, not string",
    ]
