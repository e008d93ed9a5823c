"""Loading and validating device profiles and SunSpec model files."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from pv_collector.errors import ProfileError
from pv_collector.model import DataType, Function, Writable
from pv_collector.profile import (
    SHIPPED_DIR,
    list_profiles,
    list_sunspec_models,
    load_profile,
    load_sunspec_model,
)

SHIPPED = sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))
SHIPPED_MODELS = sorted(int(p.stem.split("_")[1]) for p in (SHIPPED_DIR / "sunspec").glob("model_*.yaml"))

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
    assert profile.points or profile.sunspec_models
    keys = [p.key for p in profile.points]
    assert len(keys) == len(set(keys))
    for point in profile.points:
        assert point.words <= profile.max_block
        if point.writable is not None:
            assert point.function is Function.HOLDING
        if point.kind == "number" and point.writable is not None:
            assert point.writable.min is not None
            assert point.writable.max is not None


@pytest.mark.parametrize("model", SHIPPED_MODELS)
def test_every_shipped_sunspec_model_loads(model: int) -> None:
    definition = load_sunspec_model(model)
    assert definition is not None
    assert definition.model == model
    assert definition.length is not None
    keys = {p.key for p in definition.points}
    for point in definition.points:
        assert definition.max_length is not None
        assert point.end <= definition.max_length
        if point.sf is not None:
            assert point.sf in keys
        if point.type is DataType.SUNSSF:
            assert point.hidden
            assert point.invalid == (0x8000,)


def test_sunspec_profile_lists_only_models_that_have_files() -> None:
    profile = load_profile("sunspec")
    assert profile.sunspec_base == 40000
    assert profile.sleeps_at_night
    assert set(profile.sunspec_models) <= set(list_sunspec_models())
    assert {1, 103, 120, 123, 160, 203} <= set(profile.sunspec_models)


def test_sunspec_sentinels_and_derived_kinds() -> None:
    inverter = {p.key: p for p in load_sunspec_model(103).points}  # type: ignore[union-attr]
    assert inverter["ac_voltage_l1"].invalid == (0xFFFF,)
    assert inverter["ac_power"].invalid == (0x8000,)
    assert inverter["energy_total"].invalid == (0,)  # acc32
    assert inverter["status"].kind == "enum"
    assert inverter["events"].kind == "bitfield"
    assert inverter["events"].role == "fault"
    controls = {p.key: p for p in load_sunspec_model(123).points}  # type: ignore[union-attr]
    assert controls["power_limit"].writable == Writable(min=0, max=100, step=1)
    assert controls["power_limit_enabled"].kind == "bool"
    common = {p.key: p for p in load_sunspec_model(1).points}  # type: ignore[union-attr]
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
    with pytest.raises(ProfileError, match=r"broken.yaml: not valid YAML \(line \d+, column \d+\)"):
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
            "bad.yaml: limits.max_block: 200 is outside 1..125",
        ),
        (
            "  - {key: mode, name: Mode, address: 1, options: {'0': off, '1': on_grid}}\n",
            "",
            "points[0] (mode).options.0: key '0' is not an integer",
        ),
        (
            "  - {key: mode, name: Mode, address: 1, options: {0: Running}}\n",
            "",
            "points[0] (mode).options.0: 'Running' is not a valid option name",
        ),
        (
            "  - {key: mode, name: Mode, address: 1, options: {0: off}}\n",
            "",
            "points[0] (mode).options.0: False is not a valid option name: YAML reads unquoted on/off",
        ),
        (
            "  - {key: Power, name: P, address: 1}\n",
            "",
            "points[0] (Power).key: 'Power' is not a valid point key",
        ),
        (
            "  - {key: p, name: P, address: 1, adress: 2}\n",
            "",
            "points[0] (p).adress: unknown field",
        ),
        (
            "  - {key: p, name: P, type: u16}\n",
            "",
            "points[0] (p).address: missing (required)",
        ),
        (
            "  - {key: p, name: P, address: 1, type: u17}\n",
            "",
            "points[0] (p).type: 'u17' is not one of u16",
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
            "points[0] (p).role: 'solar' is not one of pv_power",
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
            "points[0] (p).scale: must not be 0",
        ),
        (
            "  - {key: on, name: P, address: 1, hidden: yes}\n",
            "",
            "points[0].key: True is not a valid point key: YAML reads unquoted on/off",
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
    assert "kind: 'toaster' is not one of inverter" in message
    message = error_of(
        tmp_path,
        "  - {key: a, name: A, address: -1}\n  - {key: b, name: B, address: 1, function: input, "
        "writable: {min: 0, max: 1}}\n",
    )
    assert "points[0] (a).address: -1 is outside 0..65535" in message
    assert "points[1] (b).writable: only holding points can be writable" in message


def test_profile_needs_points(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.yaml", "id: empty\nname: Empty\n")
    with pytest.raises(ProfileError, match=re.escape("empty.yaml: points: a profile needs points")):
        load_profile(str(path))


def test_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "list.yaml", "- a\n- b\n")
    with pytest.raises(ProfileError, match="is a YAML mapping"):
        load_profile(str(path))


def test_user_sunspec_model_file_is_validated(tmp_path: Path) -> None:
    (tmp_path / "sunspec").mkdir()
    write(
        tmp_path / "sunspec",
        "model_64000.yaml",
        "model: 64000\nname: Vendor\nlength: 2\npoints:\n  - {key: x, name: X, address: 1, type: u32}\n",
    )
    with pytest.raises(
        ProfileError, match=re.escape("points[0] (x).address: offset 1 + 2 registers exceed length 2")
    ):
        load_sunspec_model(64000, [tmp_path])
    assert load_sunspec_model(64001, [tmp_path]) is None


def sunspec_model_error(tmp_path: Path, text: str) -> str:
    folder = tmp_path / "sunspec"
    folder.mkdir(exist_ok=True)
    (folder / "model_64100.yaml").write_text(textwrap.dedent(text))
    with pytest.raises(ProfileError) as caught:
        load_sunspec_model(64100, [tmp_path])
    return str(caught.value)


REPEATING_MODEL = """\
    model: 64100
    name: Strings
    length: 2
    points:
      - {key: dca_sf, name: Current scale factor, address: 0, type: sunssf}
      - {key: limit, name: Limit, address: 1, writable: {min: 0, max: 100}, revert_point: limit_revert}
    repeating:
      size: 3
      max: 3
      points:
        - {key: "s{n}_current", name: "String {n} current", address: 1, sf: dca_sf, unit: A}
        - {key: "s{n}_state", name: "String {n} state", address: 2, options: {1: "off", 4: mppt}}
"""


def test_a_repeating_group_gives_one_set_of_points_per_module(tmp_path: Path) -> None:
    folder = tmp_path / "sunspec"
    folder.mkdir()
    (folder / "model_64100.yaml").write_text(
        textwrap.dedent(REPEATING_MODEL.replace(", revert_point: limit_revert", ""))
    )
    model = load_sunspec_model(64100, [tmp_path])
    assert model is not None
    assert (model.length, model.module_size, model.modules, model.max_length) == (2, 3, 3, 11)
    placed = {p.key: (p.address, p.name, p.sf) for p in model.points}
    assert placed["s1_current"] == (3, "String 1 current", "dca_sf")
    assert placed["s3_state"] == (2 + 2 * 3 + 2, "String 3 state", None)
    assert len(model.points) == 2 + 2 * 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("revert_point: limit_revert", "revert_point: nothing"), "points[1] (limit).revert_point: no point"),
        (("revert_point: limit_revert", "enable_point: dca_sf"), "is not a writable bool point"),
        (('"s{n}_state"', "s_state"), "repeating.points: key 's_state' must contain {n}"),
        (("address: 2, options", "address: 3, options"), "exceed the module size 3"),
        (("length: 2\n    ", ""), "repeating: needs the length of the fixed part"),
        (("sf: dca_sf, unit", "sf: nope, unit"), "repeating.points[0] (s1_current).sf: no point has the key"),
    ],
)
def test_bad_sunspec_model_files_name_the_problem(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    text = REPEATING_MODEL.replace(", revert_point: limit_revert", "")
    if change[0].startswith(("revert_point", "enable_point")):
        text = REPEATING_MODEL.replace(*change)
    else:
        text = text.replace(*change)
    assert message in sunspec_model_error(tmp_path, text)
