"""The field readers every configuration, add-on option and profile is read with (pv_collector.validate): each
refusal is one line naming where, what is wrong and what is allowed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from pv_collector.model import Function
from pv_collector.validate import (
    Fields,
    Invalid,
    Problem,
    Problems,
    Reader,
    boolean,
    choice,
    default_of,
    format_path,
    integer,
    list_of,
    mapping_of,
    matching,
    member,
    number,
    pair,
    record,
    refuse,
    required_fields,
    text,
)


def refusal(reader: Reader[Any], value: Any, doc: Any = None) -> list[str]:
    with pytest.raises(Invalid) as caught:
        reader(value)
    return caught.value.lines(doc)


READERS = [
    pytest.param(integer(1, 247), 300, "300 is not a valid value (expected 1..247)", id="integer-range"),
    pytest.param(integer(1, 247), True, "true is not a valid value (expected 1..247)", id="integer-bool"),
    pytest.param(integer(1, 247), 2.0, "2.0 is not a valid value (expected 1..247)", id="integer-float"),
    pytest.param(integer(), "7", "'7' is not a valid value (expected an integer)", id="integer"),
    pytest.param(integer(5), 4, "4 is not a valid value (expected an integer >= 5)", id="integer-low"),
    pytest.param(
        integer(1, 65534, unit="seconds"),
        0,
        "0 is not a valid value (expected 1..65534 (seconds))",
        id="unit",
    ),
    pytest.param(number(0.1, 86_400), 0.01, "0.01 is not a valid value (expected 0.1..86400)", id="number"),
    pytest.param(number(), float("nan"), "nan is not a valid value (expected a finite number)", id="nan"),
    pytest.param(number(1), 0, "0 is not a valid value (expected a finite number >= 1)", id="number-low"),
    pytest.param(number(above=0), 0, "0 is not a valid value (expected a finite number > 0)", id="above"),
    pytest.param(
        number(nonzero=True),
        0,
        "0 is not a valid value (expected a finite number other than 0)",
        id="nonzero",
    ),
    pytest.param(number(), "1", "'1' is not a valid value (expected a finite number)", id="number-text"),
    pytest.param(boolean, "yes", "'yes' is not a valid value (expected true or false)", id="boolean"),
    pytest.param(text(), "  ", "'  ' is not a valid value (expected a non-empty text)", id="text"),
    pytest.param(
        text(max_length=3),
        "abcd",
        "'abcd' is not a valid value (expected a non-empty text of at most 3 characters)",
        id="text-length",
    ),
    pytest.param(
        text(secret=True), 5, "(secret) is not a valid value (expected a non-empty text)", id="secret"
    ),
    pytest.param(
        choice("N", "E", "O"), "X", "'X' is not a valid value (expected one of N | E | O)", id="choice"
    ),
    pytest.param(
        choice(0, 1, 2), True, "true is not a valid value (expected one of 0 | 1 | 2)", id="choice-bool"
    ),
    pytest.param(choice(1, 2), 1.0, "1.0 is not a valid value (expected one of 1 | 2)", id="choice-float"),
    pytest.param(
        member(Function), "coil", "'coil' is not a valid value (expected one of holding | input)", id="member"
    ),
    pytest.param(
        matching(re.compile(r"^[a-z]+$"), "a name: a-z"),
        "Name",
        "'Name' is not a valid value (expected a name: a-z)",
        id="matching",
    ),
    pytest.param(
        matching(re.compile(r"^[a-z]+$"), "a name: a-z"),
        False,
        "false is not a valid value (expected a name: a-z): YAML reads unquoted on/off/yes/no as true/false, "
        "quote it",
        id="matching-yaml-boolean",
    ),
    pytest.param(pair(number()), [10, 0], "min 10 is greater than max 0", id="pair-order"),
    pytest.param(pair(number()), 5, "5 is not a valid value (expected [min, max])", id="pair-shape"),
]


@pytest.mark.parametrize(("reader", "value", "line"), READERS)
def test_each_reader_refuses_in_one_line(reader: Reader[Any], value: Any, line: str) -> None:
    assert refusal(reader, value) == [f"(top level): {line}"]


def test_readers_return_the_value_checked() -> None:
    assert integer(1, 247)(5) == 5
    assert number(0, 1)(1) == 1.0
    assert isinstance(number(0, 1)(1), float)
    assert choice(1, 2)(2) == 2
    assert member(Function)("input") is Function.INPUT
    assert pair(number())([0, 1]) == (0.0, 1.0)
    assert list_of(integer(), items="integers")([1, 2]) == (1, 2)
    assert mapping_of(integer(0, 9), text(), what="names")({1: "a"}) == {1: "a"}


def test_a_list_reports_every_bad_item_at_its_index() -> None:
    reader = list_of(integer(0, 9), items="digits", at_least_one="digit")
    assert refusal(reader, [1, 10, "x"]) == [
        "[1]: 10 is not a valid value (expected 0..9)",
        "[2]: 'x' is not a valid value (expected 0..9)",
    ]
    assert refusal(reader, []) == ["(top level): at least one digit is required"]
    assert refusal(reader, {"a": 1}) == [
        "(top level): {'a': 1} is not a valid value (expected a list of digits)"
    ]


def test_a_map_reports_bad_keys_and_values_at_their_key() -> None:
    reader = mapping_of(integer(0, 255), text(), what="unit id to a device")
    assert refusal(reader, {"1": "a", 2: ""}) == [
        "1: key '1' is not a valid value (expected 0..255)",
        "[2]: '' is not a valid value (expected a non-empty text)",
    ]
    assert refusal(reader, [1]) == [
        "(top level): [1] is not a valid value (expected a map of unit id to a device)"
    ]


def test_fields_name_unknown_and_missing_keys() -> None:
    reader = Fields({"host": text(), "port": integer(1, 65535)}, required=["host"])
    assert refusal(reader, {"hots": "x"}) == [
        "hots: unknown option (did you mean 'host'?)",
        "host: required option is missing",
    ]
    assert refusal(reader, {"host": "h", "colour": 1}) == [
        "colour: unknown option (expected one of host | port)"
    ]
    assert refusal(Fields({}, noun="field"), 5) == [
        "(top level): 5 is not a valid value (expected a map of fields)"
    ]


def test_fields_pass_only_what_is_given_and_null_is_not_given() -> None:
    reader = Fields({"host": text(), "port": integer(1, 65535)}, required=["host"])
    assert reader({"host": "h"}) == {"host": "h"}
    assert reader({"host": "h", "port": None}) == {"host": "h"}
    assert refusal(reader, {"host": None}) == ["host: required option is missing"]


@dataclass(frozen=True, kw_only=True)
class _Broker:
    host: str
    port: int = 1883
    topics: tuple[str, ...] = field(default_factory=tuple)


def test_a_record_takes_its_defaults_from_the_dataclass() -> None:
    reader = record(_Broker, {"host": text(), "port": integer(1, 65535)})
    assert reader({"host": "h"}) == _Broker(host="h", port=1883)
    assert refusal(reader, None) == ["host: required option is missing"]
    assert required_fields(_Broker) == ["host"]
    assert default_of(_Broker, "port") == 1883
    assert default_of(_Broker, "topics") == ()
    with pytest.raises(KeyError):
        default_of(_Broker, "host")


def test_problems_are_named_by_their_path_in_the_document() -> None:
    doc = {"points": [{"key": "power", "options": {0: "off"}}], "buses": [{"units": {5: "x"}}]}
    assert format_path(["points", 0, "options", 0], doc) == "points[0] (power).options[0]"
    assert format_path(["buses", 0, "units", 5], doc) == "buses[0].units[5]"
    assert format_path(["points", 0, "options", "0"], doc) == "points[0] (power).options.0"
    assert format_path([]) == "(top level)"
    problems = Problems()
    with problems.at("points", 0, "scale"):
        raise refuse(0, "a finite number other than 0")
    problems.add(["points", 0, "key"], "duplicate key")
    with pytest.raises(Invalid) as caught:
        problems.check()
    assert caught.value.lines(doc) == [
        "points[0] (power).scale: 0 is not a valid value (expected a finite number other than 0)",
        "points[0] (power).key: duplicate key",
    ]
    assert caught.value.problems[1] == Problem(("points", 0, "key"), "duplicate key")
