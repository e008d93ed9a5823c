"""The add-on's AppArmor profile allows what the collector needs (serial devices, /data, /config, /ssl
read-only, IPv4/IPv6 stream and datagram sockets, Python under /usr, s6-overlay under /run and /command)
and no more: no capability, no raw/packet/netlink sockets, no mount, no ptrace, no profile change.

There is no AppArmor-enabled Docker host here, so the profile is parsed (one rule per line, comments
stripped) and checked rule by rule; `apparmor_parser -Q` checks the syntax when it is installed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import required_tool

PROFILE = Path(__file__).resolve().parents[2] / "addon/apparmor.txt"
SLUG = "pv_monitor"


def rules(text: str | None = None) -> list[str]:
    """The rules of the profile body: one per line, comments and includes removed, commas stripped."""
    text = PROFILE.read_text(encoding="utf-8") if text is None else text
    body: list[str] = []
    inside = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.strip().startswith("#include") else ""
        if line.startswith("profile "):
            assert not inside, "one profile only (no nested profiles to escape into)"
            inside = True
            continue
        if line == "}":
            inside = False
            continue
        if inside and line:
            assert line.endswith(","), f"rule without a trailing comma: {line!r}"
            body.append(" ".join(line[:-1].split()))
    return body


def file_rules(body: list[str]) -> dict[str, str]:
    """`path -> permissions` of the file rules."""
    found: dict[str, str] = {}
    for rule in body:
        if match := re.fullmatch(r"(/\S*)\s+([rwkmlixcpuUPC]+)", rule):
            found[match.group(1)] = match.group(2)
    return found


def test_profile_is_named_after_the_slug_and_includes_the_base_abstraction() -> None:
    text = PROFILE.read_text(encoding="utf-8")
    assert re.search(rf"^profile {SLUG} flags=\(attach_disconnected,mediate_deleted\) \{{", text, re.M)
    assert "#include <tunables/global>" in text
    assert "#include <abstractions/base>" in text


@pytest.mark.parametrize(
    ("path", "needed"),
    [
        ("/data/**", "rw"),  # options.json, queue (sqlite: k), sequence numbers
        ("/config/**", "rw"),  # user profiles (map: app_config:rw)
        ("/ssl/**", "r"),  # CA file, client certificate and key (map: ssl:ro)
        ("/dev/tty*", "rw"),  # RS-485 adapters
        ("/dev/serial/**", "rw"),  # /dev/serial/by-id links
        ("/usr/local/bin/**", "ix"),  # python3
        ("/usr/local/lib/**", "mr"),  # the standard library, site-packages, C extensions (m)
        ("/init", "ix"),  # s6-overlay v3
        ("/command/**", "ix"),  # with-contenv, s6 tools
        ("/package/**", "ix"),
        ("/run/{s6,s6-rc*,service}/**", "ix"),  # compiled run/finish scripts
        ("/run/{,**}", "rw"),  # s6 state, container results
    ],
)
def test_what_the_collector_needs_is_allowed(path: str, needed: str) -> None:
    allowed = file_rules(rules())
    assert path in allowed, f"no rule for {path}"
    missing = set(needed) - set(allowed[path])
    assert not missing, f"{path}: needs {needed}, has {allowed[path]}"


def test_ssl_is_read_only() -> None:
    assert file_rules(rules())["/ssl/**"] == "r"


def test_network_is_inet_stream_and_datagram_only() -> None:
    network = {rule for rule in rules() if rule.startswith("network")}
    needed = {f"network {family} {kind}" for family in ("inet", "inet6") for kind in ("stream", "dgram")}
    assert needed <= network, needed - network
    assert network <= needed | {"network unix stream"}, f"more network than needed: {network - needed}"
    assert "network" not in network, "a bare `network` rule would allow raw and packet sockets"


@pytest.mark.parametrize(
    "forbidden",
    [
        r"capability\b.*",
        r"(audit )?network (\w+ )?(raw|packet)\b.*",
        r"network netlink.*",
        r"mount\b.*",
        r"umount\b.*",
        r"remount\b.*",
        r"pivot_root\b.*",
        r"ptrace\b.*",
        r"change_profile\b.*",
        r"/\S* .*[uUpPcC]x.*",
        r"/proc/sys/\S* .*w.*",
        r"/sys/\S* .*w.*",
        r"dbus\b.*",
        r"unix\b.*",
    ],
)
def test_nothing_more_is_allowed(forbidden: str) -> None:
    offending = [rule for rule in rules() if re.fullmatch(forbidden, rule)]
    assert not offending, f"the profile allows {offending}"


def test_signals_only_those_s6_uses() -> None:
    signals = [rule for rule in rules() if rule.startswith("signal")]
    assert signals == ["signal (send,receive) set=(kill,term,int,hup,cont)"], signals


def test_the_checks_catch_a_broader_profile() -> None:
    """The parser is not vacuous: rules a careless edit would add are found."""
    broader = PROFILE.read_text(encoding="utf-8").replace(
        "  file,\n", "  file,\n  capability sys_admin,\n  network raw,\n  ptrace (read),\n  mount,\n"
    )
    body = rules(broader)
    assert "capability sys_admin" in body
    assert "network raw" in body
    assert any(re.fullmatch(r"ptrace\b.*", rule) for rule in body)
    assert "mount" in body


def test_apparmor_parser_accepts_the_profile() -> None:
    result = subprocess.run(
        [required_tool("apparmor_parser"), "-Q", "-K", str(PROFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
