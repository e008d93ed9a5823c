"""addon/config.yaml, its translations and the repository layout, checked with the Supervisor's own rules.

The rules are re-created in tests/addon/supervisor_rules.py (Supervisor 2026.08); these tests also hold
the add-on to a few rules of this project (no deprecated fields, every option translated and documented).
"""

from __future__ import annotations

import re
import struct
import subprocess
import tomllib
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import voluptuous as vol
import yaml

from pv_collector import addon
from pv_collector.config import validate_config
from tests.addon import supervisor_rules as rules
from tests.addon.conftest import ADDON, REPO

CONFIG = yaml.safe_load((ADDON / "config.yaml").read_text(encoding="utf-8"))
SCHEMA: dict[str, Any] = CONFIG["schema"]
LANGUAGES = ("en", "de")


def translations(language: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        (ADDON / "translations" / f"{language}.yaml").read_text(encoding="utf-8")
    )
    return data


def option_tree(schema: dict[str, Any]) -> dict[str, Any]:
    """Option names as a tree: a list of dicts or a dict becomes its sub-tree, a leaf becomes None."""
    tree: dict[str, Any] = {}
    for key, value in schema.items():
        element = value[0] if isinstance(value, list) else value
        tree[key] = option_tree(element) if isinstance(element, dict) else None
    return tree


def translation_tree(configuration: dict[str, Any]) -> dict[str, Any]:
    return {
        key: translation_tree(entry["fields"]) if "fields" in entry else None
        for key, entry in configuration.items()
    }


def leaf_types(schema: dict[str, Any], prefix: str = "") -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in schema.items():
        element = value[0] if isinstance(value, list) else value
        if isinstance(element, dict):
            found.update(leaf_types(element, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = element
    return found


# --------------------------------------------------------------------------------------------------
# config.yaml


def test_config_passes_the_supervisor_schema() -> None:
    validated = rules.SCHEMA_APP_CONFIG(CONFIG)

    assert validated["slug"] == "pv_monitor"
    assert set(CONFIG) <= rules.KNOWN_APP_KEYS, "unknown keys are silently dropped by the Supervisor"
    assert rules.advisories(CONFIG) == []


def test_config_declares_what_the_collector_needs() -> None:
    assert CONFIG["init"] is False  # s6-overlay v3 of the base image is PID 1
    assert CONFIG["uart"] is True  # RS-485 adapters are mapped into the container
    assert CONFIG["services"] == ["mqtt:need"]
    assert set(CONFIG["arch"]) == set(rules.ARCH_ALL)  # the base images exist for these two only
    maps = {entry["type"]: entry["read_only"] for entry in rules.migrate_app_config(CONFIG)["map"]}
    assert maps == {"app_config": False, "ssl": True}
    assert "image" not in CONFIG  # built locally by the Supervisor from addon/Dockerfile


def test_the_page_is_reached_through_ingress_only() -> None:
    """The Supervisor keeps the ingress keys, and the start step serves the page where ingress looks for it:
    on the ingress port, to the Supervisor's ingress proxy only (developers.home-assistant.io, "Presenting
    your add-on", Ingress: "accepts only connections from 172.30.32.2")."""
    validated = rules.SCHEMA_APP_CONFIG(CONFIG)

    assert validated["ingress"] is True
    assert validated["ingress_port"] == 8099  # the start step asks the Supervisor for it
    assert validated["panel_title"] == "PV Monitor"
    assert re.fullmatch(r"mdi:[a-z0-9-]+", validated["panel_icon"])
    assert validated["panel_admin"] is True  # the register explorer is for administrators
    assert f"{validated['ingress_port']}/tcp" not in CONFIG["ports"]  # never published on the host
    assert addon.INGRESS_PROXY == "172.30.32.2"


def test_ingress_keys_are_checked_by_the_supervisor_schema() -> None:
    with pytest.raises(vol.Invalid):
        rules.SCHEMA_APP_CONFIG({**CONFIG, "ingress_port": 70000})
    with pytest.raises(vol.Invalid):
        rules.SCHEMA_APP_CONFIG({**CONFIG, "ingress": "yes please"})


def test_version_matches_the_collector_and_the_changelog() -> None:
    collector = tomllib.loads((ADDON / "collector" / "pyproject.toml").read_text(encoding="utf-8"))
    changelog = (ADDON / "CHANGELOG.md").read_text(encoding="utf-8")

    assert CONFIG["version"] == collector["project"]["version"]
    assert re.search(r"^## (\S+)", changelog, re.MULTILINE)[1] == CONFIG["version"]  # type: ignore[index]


def test_schema_uses_typed_options() -> None:
    types = leaf_types(SCHEMA)

    assert types["buses.type"] == "list(serial|tcp|rtu_over_tcp)"
    assert types["buses.device"] == "device(subsystem=tty)?"
    assert types["buses.parity"] == "list(N|E|O)?"
    assert types["buses.port"] == "port?"
    assert types["buses.devices.unit_id"] == "int(0,255)"
    assert types["mqtt.password"] == "password?"
    assert types["publish_on_change"] == "bool"
    assert types["identify"] == "list(first_start|every_start|off)"
    assert CONFIG["options"]["identify"] == "first_start"
    assert all(types[f"qos.{kind}"] == "int(0,2)" for kind in ("state", "status", "discovery", "commands"))
    for option, typ in types.items():
        assert rules.RE_SCHEMA_ELEMENT.match(typ), f"{option}: {typ}"


def test_default_options_pass_the_schema() -> None:
    validator = rules.AppOptions(SCHEMA)

    assert validator(CONFIG["options"]) == CONFIG["options"]
    assert validator.unknown == []


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"collector_id": "Home PV"}, "does not match"),
        ({"qos": {"state": 3, "status": 1, "discovery": 1, "commands": 1}}, "value must be at most 2"),
        (
            {"buses": [{"name": "a", "type": "serial", "device": "/dev/ttyUSB9", "devices": []}]},
            "does not exist",
        ),
        (
            {"buses": [{"name": "a", "type": "tcp", "host": "x", "devices": [{"id": "x", "unit_id": 1}]}]},
            "'profile'",
        ),
        ({"buses": [{"name": "a", "type": "modbus", "host": "x", "devices": []}]}, "value must be one of"),
        ({"log_level": "verbose"}, "value must be one of"),
        ({"identify": "always"}, "value must be one of"),
    ],
)
def test_schema_rejects_bad_options(change: dict[str, Any], error: str) -> None:
    """The schema is strict enough that the Supervisor refuses these before the add-on starts."""
    with pytest.raises(vol.Invalid, match=error):
        rules.AppOptions(SCHEMA, devices=["/dev/ttyUSB0"])({**CONFIG["options"], **change})


def docs_examples() -> list[Any]:
    text = (ADDON / "DOCS.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    return [
        pytest.param(yaml.safe_load(block), id=f"docs-example-{index}") for index, block in enumerate(blocks)
    ]


@pytest.mark.parametrize("example", docs_examples())
def test_docs_examples_are_valid_options(example: dict[str, Any], tmp_path: Path) -> None:
    """Every example in DOCS.md passes the Supervisor's schema and the collector's validation."""
    options = {**CONFIG["options"], **example}
    devices = [bus["device"] for bus in options["buses"] if "device" in bus]
    validated = rules.AppOptions(SCHEMA, devices=devices)(options)
    if options["buses"]:
        broker = addon.Broker(host="core-mosquitto", port=1883)
        paths = addon.AddonPaths(options=tmp_path / "options.json", data_dir=tmp_path, config_dir=tmp_path)
        validate_config(addon.build_collector_config(validated, broker, paths))


# --------------------------------------------------------------------------------------------------
# Translations and documentation


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_option_is_translated(language: str) -> None:
    data = translations(language)
    rules.SCHEMA_APP_TRANSLATIONS(data)

    assert translation_tree(data["configuration"]) == option_tree(SCHEMA)
    assert set(data["network"]) == set(CONFIG["ports"])


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_have_name_and_description(language: str) -> None:
    def walk(entries: dict[str, Any], prefix: str = "") -> None:
        for key, entry in entries.items():
            assert entry.get("name"), f"{prefix}{key}: name"
            assert entry.get("description"), f"{prefix}{key}: description"
            walk(entry.get("fields", {}), f"{prefix}{key}.")

    walk(translations(language)["configuration"])


def test_docs_describe_every_option() -> None:
    docs = (ADDON / "DOCS.md").read_text(encoding="utf-8")
    for option in leaf_types(SCHEMA):
        name = option.rpartition(".")[2]
        assert f"`{name}`" in docs or f"`{option}`" in docs or f"`{option.replace('buses.', '')}`" in docs, (
            option
        )
    for topic in ("## Installation", "## Wiring an RS-485 adapter", "## Examples", "## Troubleshooting"):
        assert topic in docs
    for words in (
        "Termination",
        "Ground",
        "A and B",
        "Wrong unit ID",
        "Timeouts",
        "/dev/ttyUSB0",
        "Permission",
    ):
        assert words in docs, words


def test_translation_tree_catches_a_missing_field() -> None:
    """The comparison above sees a nested option without a translation."""
    data = translations("en")
    del data["configuration"]["buses"]["fields"]["devices"]["fields"]["poll_interval"]

    assert translation_tree(data["configuration"]) != option_tree(SCHEMA)


# --------------------------------------------------------------------------------------------------
# Repository layout


def repository_files() -> list[PurePosixPath]:
    """The files a clone of the repository holds (tracked, plus new files not ignored)."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [PurePosixPath(line) for line in listing.splitlines() if (REPO / line).exists()]


def test_only_the_addon_is_taken_for_an_addon() -> None:
    assert rules.find_app_configs(repository_files()) == [PurePosixPath("addon/config.yaml")]


def test_addon_finder_rule() -> None:
    found = rules.find_app_configs(
        PurePosixPath(path)
        for path in (
            "addon/config.yaml",
            "examples/config.json",
            "docs/config.yml",
            "x/config.tar.yaml",
            ".github/config.yaml",
            "addon/rootfs/etc/config.yaml",
            "examples/simulated.yaml",
            "configs/a.yaml",
        )
    )

    assert [str(path) for path in found] == [
        "addon/config.yaml",
        "examples/config.json",
        "docs/config.yml",
        "x/config.tar.yaml",
    ]


def test_repository_yaml() -> None:
    data = yaml.safe_load((REPO / "repository.yaml").read_text(encoding="utf-8"))

    assert rules.SCHEMA_REPOSITORY_CONFIG(data)["name"]
    assert not (
        ADDON / "build.yaml"
    ).exists()  # retired in 2026: FROM, ARGs and LABELs live in the Dockerfile


def test_apparmor_profile_is_one_profile_named_after_the_slug() -> None:
    assert rules.apparmor_profiles(ADDON / "apparmor.txt") == {CONFIG["slug"]}


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG, after checking its chunks' CRCs and that the image data inflates."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, size = 8, b"", (0, 0)
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
            assert body[8:10] == b"\x08\x06"  # 8-bit RGBA
        idat += body if kind == b"IDAT" else b""
        offset += 12 + length
    assert len(zlib.decompress(idat)) == size[1] * (1 + 4 * size[0])
    return size


def test_icon_and_logo() -> None:
    assert png_size(ADDON / "icon.png") == (128, 128)  # square icon
    width, height = png_size(ADDON / "logo.png")
    assert 200 <= width <= 300  # the store's logo box is about 250 x 100
    assert 80 <= height <= 120
