"""addon/config.yaml, its translations and the repository layout, checked against Home Assistant's developer
documentation (tests/addon/addon_facts.py names the pages) and against the collector's own validation.

These tests also hold the add-on to a few rules of this project: every option translated and documented, the
options of version 0.1 still start the add-on after an update, the examples in DOCS.md are valid.
"""

from __future__ import annotations

import copy
import re
import struct
import subprocess
import tomllib
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from pv_collector.addon.options import ADDON_OPTIONS, INGRESS_PROXY, collector_config, given
from pv_collector.addon.supervisor import Broker
from pv_collector.config import validate_config
from pv_collector.errors import ConfigError
from tests.addon import addon_facts as facts
from tests.addon.conftest import ADDON, REPO
from tests.addon.test_start import NEW_DEFAULTS, options_of_0_1

CONFIG = yaml.safe_load((ADDON / "config.yaml").read_text(encoding="utf-8"))
SCHEMA: dict[str, Any] = CONFIG["schema"]
LANGUAGES = ("en", "de")


def translations(language: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        (ADDON / "translations" / f"{language}.yaml").read_text(encoding="utf-8")
    )
    return data


# --------------------------------------------------------------------------------------------------
# config.yaml


def test_config_follows_the_documented_app_configuration() -> None:
    assert facts.config_problems(CONFIG) == []
    assert CONFIG["slug"] == "pv_monitor"


def test_the_checks_see_what_is_wrong() -> None:
    """The documented rules the checks below rely on do find mistakes."""
    broken = {**CONFIG, "arch": ["amd64", "armv7"], "ingress_port": 70000, "colour": "blue"}
    del broken["version"]
    assert facts.config_problems(broken) == [
        "version: required, a str",
        "colour: not a documented key",
        "arch: 'armv7' is not supported",
        "ingress_port: 70000 is not a port",
    ]
    assert facts.schema_problems({"a": "string", "b": ["str", "int"], "c": [{"d": {"e": {"f": "str"}}}]}) == [
        "a: 'string' is not a documented option type",
        "b: a list holds exactly one element type or one dict",
        "c.d.e: nested deeper than 2 levels",
    ]
    assert facts.default_problems({"a": 1, "b": "x"}, {"a": "int(2,3)", "b": "str?"}) == [
        "a: 1 is not a int(2,3)",
        "b: a default makes the optional option required",
    ]


def test_config_declares_what_the_collector_needs() -> None:
    assert CONFIG["init"] is False  # s6-overlay v3 of the base image is PID 1
    assert CONFIG["uart"] is True  # RS-485 adapters are mapped into the container
    assert CONFIG["services"] == ["mqtt:need"]
    assert set(CONFIG["arch"]) == facts.ARCHITECTURES  # the base images exist for these two only
    maps = {entry["type"]: entry["read_only"] for entry in CONFIG["map"]}
    assert maps == {"app_config": False, "ssl": True}
    assert "image" not in CONFIG  # built locally by the Supervisor from addon/Dockerfile


def test_the_page_is_reached_through_ingress_only() -> None:
    """The start step serves the page where ingress looks for it: on the ingress port, to the Supervisor's
    ingress proxy only (docs/apps/presentation.md, "Ingress")."""
    assert CONFIG["ingress"] is True
    assert CONFIG["ingress_port"] == 8099  # the start step asks the Supervisor for it
    assert CONFIG["panel_title"] == "PV Monitor"
    assert re.fullmatch(r"mdi:[a-z0-9-]+", CONFIG["panel_icon"])
    assert CONFIG.get("panel_admin", True) is True  # the register explorer is for administrators
    assert f"{CONFIG['ingress_port']}/tcp" not in CONFIG["ports"]  # never published on the host
    assert INGRESS_PROXY == "172.30.32.2"


def test_version_matches_the_collector_and_the_changelog() -> None:
    collector = tomllib.loads((ADDON / "collector" / "pyproject.toml").read_text(encoding="utf-8"))
    changelog = (ADDON / "CHANGELOG.md").read_text(encoding="utf-8")

    assert CONFIG["version"] == collector["project"]["version"]
    assert re.search(r"^## (\S+)", changelog, re.MULTILINE)[1] == CONFIG["version"]  # type: ignore[index]


def test_schema_uses_documented_types_at_most_two_levels_deep() -> None:
    assert facts.schema_problems(SCHEMA) == []
    types = facts.leaves(SCHEMA)
    assert types["buses.type"] == "list(serial|tcp|rtu_over_tcp|solarman)"
    assert types["buses.logger_serial"] == "int(1,4294967295)?"
    assert types["buses.serial_port"] == "device(subsystem=tty)?"
    assert types["buses.port"] == "port?"
    assert types["buses.devices.unit_id"] == "int(0,255)"
    assert types["mqtt.password"] == "password?"
    assert types["identify"] == "list(first_start|every_start|off)"
    assert CONFIG["options"]["identify"] == "first_start"


def test_options_are_the_collector_configuration() -> None:
    """Every option but the add-on's own (`identify`) is an option of the collector configuration under the
    same path: each one, set on a minimal configuration, is accepted by the collector's own validation (an
    unknown name would be named)."""
    samples = {"str": "x", "password": "x", "bool": True, "port": 1502, "device": "/dev/ttyUSB0"}
    serial_only = {"serial_port", "baudrate", "parity", "stopbits"}
    for path, typ in facts.leaves(SCHEMA).items():
        if path in ADDON_OPTIONS:
            continue
        serial = path.rpartition(".")[2] in serial_only
        kind = "solarman" if path == "buses.logger_serial" else "tcp"
        bus: dict[str, Any] = {"name": "a", "type": "serial" if serial else kind}
        bus.update({"serial_port": "/dev/ttyUSB0"} if serial else {"host": "h"})
        bus["devices"] = [{"id": "d", "unit_id": 1, "profile": "sdm630"}]
        config: dict[str, Any] = {"collector": {"id": "home"}, "buses": [bus]}
        name = re.match(r"[a-z]+", typ)[0]  # type: ignore[index]
        value: Any = samples.get(name)
        if (choices := re.match(r"list\((.*)\)", typ)) is not None:
            value = choices[1].split("|")[-1]
        elif name in ("int", "float"):
            bounds = re.findall(r"-?[\d.]+", typ)
            value = int(float(bounds[0])) if bounds else 1
        target: Any = config
        parts = path.split(".")
        for part in parts[:-1]:
            target = target[part][0] if isinstance(target.get(part), list) else target.setdefault(part, {})
        target[parts[-1]] = value
        try:
            validate_config(config, check_profiles=False)
        except ConfigError as err:
            assert "unknown option" not in str(err), f"{path}: {err}"


def test_default_options_follow_the_schema() -> None:
    assert facts.default_problems(CONFIG["options"], SCHEMA) == []
    assert facts.option_problems(CONFIG["options"], SCHEMA) == []


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"collector": {"id": "Home PV", "name": "x"}}, "collector.id: 'Home PV' does not match"),
        ({"mqtt": {"qos": {"state": 3, "status": 1, "discovery": 1, "commands": 1}}}, "mqtt.qos.state: 3"),
        (
            {"buses": [{"name": "a", "type": "serial", "serial_port": "/dev/ttyUSB9", "devices": []}]},
            "buses[0].serial_port: '/dev/ttyUSB9' is not a device of the host",
        ),
        (
            {"buses": [{"name": "a", "type": "tcp", "host": "x", "devices": [{"id": "x", "unit_id": 1}]}]},
            "buses[0].devices[0].profile: required",
        ),
        ({"buses": [{"name": "a", "type": "modbus", "host": "x", "devices": []}]}, "'modbus' is not one of"),
        ({"log_level": "verbose"}, "log_level: 'verbose' is not one of"),
        ({"identify": "always"}, "identify: 'always' is not one of"),
    ],
)
def test_schema_rejects_bad_options(change: dict[str, Any], error: str) -> None:
    """The schema is strict enough that the Supervisor refuses these before the add-on starts."""
    problems = facts.option_problems({**CONFIG["options"], **change}, SCHEMA, devices=["/dev/ttyUSB0"])
    assert any(error in problem for problem in problems), problems


def test_options_of_version_0_1_pass_the_new_schema() -> None:
    """After an update the Supervisor validates the user's stored options of 0.1, merged over the new
    defaults, against the new schema before the add-on starts: they must pass (names the schema no longer
    has are dropped, nothing may be missing), or the add-on would not start and never rename them."""
    old = options_of_0_1("/dev/ttyUSB0")
    merged = {**copy.deepcopy(NEW_DEFAULTS), **old, "mqtt": {**NEW_DEFAULTS["mqtt"], **old["mqtt"]}}

    problems = facts.option_problems(merged, SCHEMA, devices=["/dev/ttyUSB0"])

    assert [problem for problem in problems if not problem.endswith("(dropped)")] == []
    assert sorted(problems) == sorted(
        f"{name}: not in the schema (dropped)"
        for name in (
            "collector_id", "collector_name", "publish_on_change", "qos", "metrics_port", "latitude",
            "longitude", "buses[0].device", "buses[1].gateway_port", "buses[1].gateway_allow_writes",
        )
    )  # fmt: skip


def docs_examples() -> list[Any]:
    text = (ADDON / "DOCS.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    return [
        pytest.param(yaml.safe_load(block), id=f"docs-example-{index}") for index, block in enumerate(blocks)
    ]


@pytest.mark.parametrize("example", docs_examples())
def test_docs_examples_are_valid_options(example: dict[str, Any], tmp_path: Path) -> None:
    """Every example in DOCS.md passes the schema and the collector's validation."""
    options = {**CONFIG["options"], **example}
    devices = [bus["serial_port"] for bus in options["buses"] if "serial_port" in bus]
    assert facts.option_problems(options, SCHEMA, devices=devices) == []
    if options["buses"]:
        broker = Broker(host="core-mosquitto", port=1883)
        config = collector_config(
            given(options), broker, data_dir=tmp_path, config_dir=tmp_path, ssl_dir=tmp_path
        )
        (tmp_path / "broker-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
        validate_config(config)


# --------------------------------------------------------------------------------------------------
# Translations and documentation


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_option_is_translated(language: str) -> None:
    assert facts.translation_problems(translations(language), SCHEMA, CONFIG["ports"]) == []


def test_translation_check_catches_a_missing_field() -> None:
    data = translations("en")
    del data["configuration"]["buses"]["fields"]["devices"]["fields"]["poll_interval"]

    assert facts.translation_problems(data, SCHEMA, CONFIG["ports"]) == [
        "buses.devices.poll_interval: not translated"
    ]


def test_docs_describe_every_option() -> None:
    docs = (ADDON / "DOCS.md").read_text(encoding="utf-8")
    for option in facts.leaves(SCHEMA):
        name = option.rpartition(".")[2]
        short = option.removeprefix("buses.devices.").removeprefix("buses.")
        assert f"`{option}`" in docs or f"`{short}`" in docs or f"`{name}`" in docs, option
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
        "Updating from version 0.1",
    ):
        assert words in docs, words


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
    """The Supervisor searches the repository recursively for config.yaml: no other file may be one."""
    assert facts.app_config_files(repository_files()) == [PurePosixPath("addon/config.yaml")]
    assert facts.app_config_files(
        [PurePosixPath("docs/config.json"), PurePosixPath(".github/config.yaml")]
    ) == [PurePosixPath("docs/config.json")]


def test_repository_yaml() -> None:
    data = yaml.safe_load((REPO / "repository.yaml").read_text(encoding="utf-8"))

    assert facts.repository_problems(data) == []
    assert not (
        ADDON / "build.yaml"
    ).exists()  # retired in 2026: FROM, ARGs and LABELs live in the Dockerfile


def test_apparmor_profile_is_one_profile_named_after_the_slug() -> None:
    text = (ADDON / "apparmor.txt").read_text(encoding="utf-8")
    assert facts.apparmor_profile_names(text) == {CONFIG["slug"]}


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
