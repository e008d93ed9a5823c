"""The one set of field readers for what users write: the configuration file, the add-on's options (validated
as a configuration) and device profiles.

A reader takes the value found at one place of a document and returns it checked (and converted), or raises
`Invalid`. Every problem is one line: the path of the bad field, what is wrong, what is allowed, e.g.
`buses[0].devices[1].unit_id: 300 is not a valid value (expected 1..247)` or
`points[3] (voltage_l1).scale: 0 is not a valid value (expected a finite number other than 0)`.

Readers carry no defaults: a field that is not given is not passed to the dataclass that is built from the
fields (`record`), so the dataclass's own default applies; `default_of` reads one where a rule needs it.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, fields
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

type Key = str | int
type Reader[T] = Callable[[Any], T]

SECRET = "(secret)"  # shown instead of the value of a password or token
YAML_BOOLEANS = "YAML reads unquoted on/off/yes/no as true/false, quote it"
_LISTED_KEYS = 8  # an unknown key lists the known ones when there are at most this many


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem: where it is (keys and list indexes from the document's top) and what it is."""

    path: tuple[Key, ...]
    message: str


class Invalid(Exception):
    """What a reader refuses: one problem or more, each at a path below the value the reader was given."""

    def __init__(self, problems: str | Iterable[Problem]) -> None:
        self.problems = (Problem((), problems),) if isinstance(problems, str) else tuple(problems)
        super().__init__("\n".join(format_problem(problem) for problem in self.problems))

    def below(self, *prefix: Key) -> Invalid:
        """The same problems, found in the value at `prefix`."""
        return Invalid(Problem((*prefix, *problem.path), problem.message) for problem in self.problems)

    def lines(self, doc: Any = None) -> list[str]:
        """One line per problem (`doc`, the document read, labels list items that have a `key`)."""
        return [format_problem(problem, doc) for problem in self.problems]


class Problems:
    """Collects the problems of one document, in the order they are found."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def __bool__(self) -> bool:
        return bool(self.found)

    def add(self, path: Sequence[Key], message: str) -> None:
        """Record one problem at `path`."""
        self.found.append(Problem(tuple(path), message))

    def extend(self, found: Iterable[Problem], *path: Key) -> None:
        """Record problems found in the value at `path`."""
        self.found.extend(Problem((*path, *problem.path), problem.message) for problem in found)

    @contextmanager
    def at(self, *path: Key) -> Iterator[None]:
        """Record what a reader inside the block refuses, found at `path`, and go on after the block."""
        try:
            yield
        except Invalid as err:
            self.extend(err.problems, *path)

    def read_each[T](self, reader: Reader[T], values: Iterable[Any], *path: Key) -> Iterator[tuple[int, T]]:
        """Each of `values` read by `reader`, with its index; what `reader` refuses is recorded at
        `path[index]` and left out."""
        for index, value in enumerate(values):
            try:
                result = reader(value)
            except Invalid as err:
                self.extend(err.problems, *path, index)
                continue
            yield index, result

    def check(self) -> None:
        """Raise `Invalid` with every problem recorded (none: return)."""
        if self.found:
            raise Invalid(self.found)


# --------------------------------------------------------------------------------------------------
# Messages


def show(value: Any) -> str:
    """A value as it is written in YAML (`null`, `true`), long maps and lists cut short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def refuse(value: Any, expected: str, *, secret: bool = False, hint: str = "") -> Invalid:
    """The one refusal of a value: `<value> is not a valid value (expected <what is allowed>)`, and a `hint`
    where the mistake has a likely cause."""
    shown = SECRET if secret else show(value)
    return Invalid(f"{shown} is not a valid value (expected {expected})" + (f": {hint}" if hint else ""))


def format_path(path: Sequence[Key], doc: Any = None) -> str:
    """`buses[0].devices[1].unit_id`; a list item of `doc` that has a `key` is labelled:
    `points[3] (voltage_l1).writable`."""
    text = ""
    node = doc
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
            item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if item is None and isinstance(node, dict):
                item = node.get(part)
            if isinstance(node, list) and isinstance(item, dict) and isinstance(item.get("key"), str):
                text += f" ({item['key']})"
            node = item
        else:
            text += f".{part}" if text else part
            node = node.get(part) if isinstance(node, dict) else None
    return text or "(top level)"


def format_problem(problem: Problem, doc: Any = None) -> str:
    """`<path>: <message>`, one line."""
    return f"{format_path(problem.path, doc)}: {problem.message}"


def default_of(model: type[DataclassInstance], name: str) -> Any:
    """The default of field `name` of dataclass `model`: the dataclass owns it, readers and rules ask it."""
    for item in fields(model):
        if item.name == name:
            if item.default is not MISSING:
                return item.default
            if item.default_factory is not MISSING:
                return item.default_factory()
    raise KeyError(f"{model.__name__}.{name} has no default")


# --------------------------------------------------------------------------------------------------
# Values


def is_integer(value: Any) -> bool:
    """An int, not a bool (YAML's true is not 1 here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    """The one rule for every number: a number (not a bool), finite (no .nan, no .inf)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _range(shown: str, unit: str) -> str:
    return f"{shown} ({unit})" if unit else shown


def integer(low: int | None = None, high: int | None = None, *, unit: str = "") -> Reader[int]:
    """An integer, within `low`..`high` where given (`unit` names what it counts in the message)."""
    if low is not None and high is not None:
        expected = _range(f"{low}..{high}", unit)
    else:
        expected = "an integer" + (f" >= {low}" if low is not None else "")

    def read(value: Any) -> int:
        if not is_integer(value) or (low is not None and value < low) or (high is not None and value > high):
            raise refuse(value, expected)
        return int(value)

    return read


def number(
    low: float | None = None,
    high: float | None = None,
    *,
    above: float | None = None,
    nonzero: bool = False,
    unit: str = "",
) -> Reader[float]:
    """A finite number, within `low`..`high`, greater than `above`, not 0, where asked."""
    if low is not None and high is not None:
        expected = _range(f"{low:g}..{high:g}", unit)
    else:
        bound = f" >= {low:g}" if low is not None else (f" > {above:g}" if above is not None else "")
        expected = "a finite number" + bound + (" other than 0" if nonzero else "")

    def read(value: Any) -> float:
        if (
            not is_finite(value)
            or (low is not None and value < low)
            or (high is not None and value > high)
            or (above is not None and value <= above)
            or (nonzero and value == 0)
        ):
            raise refuse(value, expected)
        return float(value)

    return read


def boolean(value: Any) -> bool:
    """true or false."""
    if not isinstance(value, bool):
        raise refuse(value, "true or false")
    return value


def text(*, max_length: int | None = None, secret: bool = False) -> Reader[str]:
    """A text that is not empty (nor only spaces); a `secret` one is never shown in a message."""
    expected = "a non-empty text" + (f" of at most {max_length} characters" if max_length else "")

    def read(value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or (max_length and len(value) > max_length):
            raise refuse(value, expected, secret=secret)
        return value

    return read


def matching(pattern: re.Pattern[str], what: str) -> Reader[str]:
    """A text matching `pattern`; `what` says in words what that is ("a point key: a-z, 0-9 and _")."""

    def read(value: Any) -> str:
        if isinstance(value, bool):
            raise refuse(value, what, hint=YAML_BOOLEANS)
        if not isinstance(value, str) or not pattern.match(value):
            raise refuse(value, what)
        return value

    return read


def choice[T](*options: T) -> Reader[T]:
    """One of `options` (a bool is never taken for 1 or 0, nor 1.0 for 1)."""
    expected = "one of " + " | ".join(str(option) for option in options)

    def read(value: Any) -> T:
        for option in options:
            if type(value) is type(option) and value == option:
                return option
        raise refuse(value, expected)

    return read


def member[E: Enum](enum: type[E]) -> Reader[E]:
    """A member of `enum`, given by its value (`holding` for `Function.HOLDING`)."""
    read = choice(*(item.value for item in enum))
    return lambda value: enum(read(value))


def list_of[T](reader: Reader[T], *, items: str, at_least_one: str | None = None) -> Reader[tuple[T, ...]]:
    """A list of what `reader` takes (every bad item reported); `at_least_one` names an item that must be
    there ("bus": `at least one bus is required`)."""

    def read(value: Any) -> tuple[T, ...]:
        if not isinstance(value, list):
            raise refuse(value, f"a list of {items}")
        if at_least_one and not value:
            raise Invalid(f"at least one {at_least_one} is required")
        problems = Problems()
        result = tuple(item for _index, item in problems.read_each(reader, value))
        problems.check()
        return result

    return read


def mapping_of[K, V](key: Reader[K], value: Reader[V], *, what: str) -> Reader[dict[K, V]]:
    """A map whose keys `key` takes and whose values `value` takes; `what` describes it ("point key to a
    number >= 0"). Every bad key and value is reported, at its key."""

    def read(data: Any) -> dict[K, V]:
        if not isinstance(data, dict):
            raise refuse(data, f"a map of {what}")
        problems = Problems()
        result: dict[K, V] = {}
        for raw_key, raw_value in data.items():
            try:
                checked = key(raw_key)
            except Invalid as err:
                problems.extend((Problem((), f"key {p.message}") for p in err.problems), raw_key)
                continue
            with problems.at(raw_key):
                result[checked] = value(raw_value)
        problems.check()
        return result

    return read


def pair(reader: Reader[float]) -> Reader[tuple[float, float]]:
    """`[min, max]`, each taken by `reader`, min not greater than max."""

    def read(value: Any) -> tuple[float, float]:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise refuse(value, "[min, max]")
        low, high = list_of(reader, items="numbers")(list(value))
        if low > high:
            raise Invalid(f"min {low:g} is greater than max {high:g}")
        return low, high

    return read


# --------------------------------------------------------------------------------------------------
# Maps of named fields


class Fields:
    """A map whose keys are the names of `readers`: each value read by its reader; the result holds only
    the fields given (a field set to null is not given). `noun` is what the document calls its keys
    ("option", "field")."""

    def __init__(
        self, readers: Mapping[str, Reader[Any]], *, required: Iterable[str] = (), noun: str = "option"
    ) -> None:
        self.readers = dict(readers)
        self.required = tuple(required)
        self.noun = noun

    def __call__(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise refuse(value, f"a map of {self.noun}s")
        problems = Problems()
        result: dict[str, Any] = {}
        for key, item in value.items():
            reader = self.readers.get(key) if isinstance(key, str) else None
            if reader is None:
                problems.add([key], f"unknown {self.noun}{self.known(key)}")
                continue
            if item is None:
                continue
            with problems.at(key):
                result[key] = reader(item)
        for name in self.required:
            if value.get(name) is None:
                problems.add([name], f"required {self.noun} is missing")
        problems.check()
        return result

    def known(self, key: Any) -> str:
        """` (did you mean 'host'?)` for a misspelt key; else the known keys, when they are few."""
        close = difflib.get_close_matches(str(key), self.readers, n=1)
        if close:
            return f" (did you mean '{close[0]}'?)"
        if len(self.readers) <= _LISTED_KEYS:
            return f" (expected one of {' | '.join(self.readers)})"
        return ""


def required_fields(model: type[DataclassInstance]) -> list[str]:
    """The fields of dataclass `model` that have no default."""
    return [
        item.name for item in fields(model) if item.default is MISSING and item.default_factory is MISSING
    ]


def record[T: DataclassInstance](
    model: type[T], readers: Mapping[str, Reader[Any]], *, noun: str = "option"
) -> Reader[T]:
    """A map read by `Fields` into the dataclass `model`: the fields it has no default for are required; a
    field not given keeps the dataclass's default. null is the empty map."""
    needed = [name for name in required_fields(model) if name in readers]
    read = Fields(readers, required=needed, noun=noun)
    return lambda value: model(**read({} if value is None else value))
