"""The one YAML reader of the collector: configuration files and profiles are read the same way.

Safe loading only; a key given twice in one mapping is an error (PyYAML would keep the last one silently);
every problem is one line that names the file, and the line and column where YAML can tell them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class YamlFileError(Exception):
    """A YAML file that cannot be read or parsed; `str()` is one line starting with the file's path."""


# libyaml's parser where PyYAML has it (its wheels do): the same safe loading, about ten times faster (every
# collector start reads the SunSpec overlay; `pv-collector check` of a large site reads many profiles).
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SAFE_LOADER):  # type: ignore[valid-type,misc]
    """A safe loader that refuses a key given twice in one mapping."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _value in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *anchor`: its keys may be overridden by the mapping's own (YAML's merge rule)
        key = loader.construct_object(key_node)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice", mark)
        seen.add(key)
    mapping: dict[Any, Any] = loader.construct_mapping(node)  # resolves `<<` merges first
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, source: str) -> Any:
    """The document in `text` (plain Python values); `source` names it in errors.

    Raises `YamlFileError` ("<source>:<line>:<column>: YAML syntax error: <problem>").
    """
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlFileError(f"{where}: YAML syntax error: {problem}") from exc
    except yaml.YAMLError as exc:
        raise YamlFileError(f"{source}: YAML syntax error: {exc}") from exc


def read_yaml(path: Path, what: str) -> Any:
    """The document in the file at `path`; `what` says what the file is ("the configuration").

    Raises `YamlFileError` naming the file: unreadable, not UTF-8, or not valid YAML.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlFileError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise YamlFileError(f"{path}: is not UTF-8 text ({exc.reason})") from exc
    return parse_yaml(text, str(path))
