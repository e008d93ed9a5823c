"""addon/Dockerfile: pinned base image, labels, and its install steps run for real in a clean venv.

There is no Docker engine here. The install test runs the Dockerfile's own `pip install` commands
(read from its RUN instruction, paths mapped from the image onto the repository) in a fresh virtual
environment made with this interpreter, then the console script. pip finds the packages where it is
configured to (pip.conf, PIP_* variables: PyPI, or the local wheel mirror of an offline machine); when it
finds none of the pinned versions the test fails, it never skips.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.addon.conftest import ADDON

DOCKERFILE = ADDON / "Dockerfile"
IMAGE_SOURCE = "/usr/src/pv-collector"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1].strip()) for text in logical]


def arg_defaults() -> dict[str, str]:
    return {
        name: value
        for kind, args in instructions()
        if kind == "ARG" and "=" in args
        for name, value in [args.split("=", 1)]
    }


def test_base_image_is_pinned() -> None:
    steps = instructions()
    assert steps[0][0] == "ARG"  # only ARGs before FROM
    froms = [args for kind, args in steps if kind == "FROM"]
    assert froms == ["${BUILD_FROM}"]
    defaults = arg_defaults()
    assert defaults["BUILD_ARCH"] == "amd64"
    match = re.fullmatch(
        r"ghcr\.io/home-assistant/\$\{BUILD_ARCH\}-base-python:(\d+\.\d+)-alpine(\d+\.\d+)-(\d{4}\.\d{2}\.\d+)",
        defaults["BUILD_FROM"],
    )
    assert match, defaults["BUILD_FROM"]  # a release tag, never a moving one like `latest` or `3.14`
    python = tuple(int(part) for part in match[1].split("."))
    requires = tomllib.loads((ADDON / "collector" / "pyproject.toml").read_text())["project"][
        "requires-python"
    ]
    minimum = tuple(int(part) for part in re.fullmatch(r">=(\d+\.\d+)", requires)[1].split("."))  # type: ignore[index]
    assert python >= minimum


def test_labels() -> None:
    labels = " ".join(args for kind, args in instructions() if kind == "LABEL")
    pairs = dict(re.findall(r'([\w.]+)="([^"]*)"', labels))

    assert pairs["io.hass.type"] == "addon"
    assert pairs["io.hass.arch"] == "${BUILD_ARCH}"
    assert pairs["io.hass.version"] == "${BUILD_VERSION}"
    assert pairs["org.opencontainers.image.source"].startswith("https://")


def test_copies_collector_and_rootfs() -> None:
    copies = [args for kind, args in instructions() if kind == "COPY"]

    assert f"collector {IMAGE_SOURCE}" in copies
    assert "rootfs /" in copies
    assert not [
        args for kind, args in instructions() if kind in ("CMD", "ENTRYPOINT")
    ]  # the base image's /init


def pip_commands() -> list[list[str]]:
    """The `pip install` commands of the Dockerfile's RUN instructions."""
    found = []
    for kind, args in instructions():
        if kind != "RUN":
            continue
        for command in re.split(r"\s*&&\s*", args):
            words = shlex.split(command)
            if words[:2] == ["pip", "install"]:
                found.append(words)
    return found


def test_installs_exactly_the_pinned_requirements() -> None:
    commands = pip_commands()

    assert ["--requirement", f"{IMAGE_SOURCE}/requirements.txt"] == commands[0][-2:]
    assert commands[1][-2:] == ["--no-deps", IMAGE_SOURCE]
    pins = [
        line.split("#")[0].strip()
        for line in (ADDON / "collector" / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert pins
    assert all("==" in pin for pin in pins), pins


def test_the_sunspec_definitions_are_pinned_for_the_image_and_the_tests() -> None:
    """The collector reads every SunSpec model from pysunspec2: the image installs the pinned version, the
    package declares it, the development environment tests with the same."""
    pins = (ADDON / "collector" / "requirements.txt").read_text().split()
    assert "pysunspec2==1.3.7" in pins
    declared = tomllib.loads((ADDON / "collector" / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(dep.startswith("pysunspec2>=1.3.7") for dep in declared)
    development = (ADDON.parent / "requirements-dev.txt").read_text().split()
    assert "pysunspec2==1.3.7" in development


def test_dockerfile_install_steps_in_a_clean_venv(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(  # what `COPY collector /usr/src/pv-collector` puts into the image
        ADDON / "collector", source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    )
    venv = tmp_path / "venv"
    # The image's pip installs into a venv without a pip of its own (`pip --python`): ensurepip would only
    # add seconds, and the image's pip is not the venv's either.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]

    for words in pip_commands():
        assert words[0] == "pip"
        command = [*pip, *[word.replace(IMAGE_SOURCE, str(source)) for word in words[1:]]]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-3000:]

    console = subprocess.run(
        [str(venv / "bin" / "pv-collector"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert console.returncode == 0, console.stderr
    assert "run" in console.stdout
    start_step = subprocess.run(
        [str(python), "-m", "pv_collector.addon", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert start_step.returncode == 0, start_step.stderr
    assert "--options" in start_step.stdout
    freeze = subprocess.run(
        [*pip, "freeze"], capture_output=True, text=True, timeout=60, check=True
    ).stdout.lower()
    for pin in ("pymodbus==3.16.1", "paho-mqtt==2.1.0", "pysunspec2==1.3.7", "aiohttp==3.14.5"):
        assert pin in freeze
    definitions = subprocess.run(  # the SunSpec models the collector reads from pysunspec2's package
        [
            str(python),
            "-c",
            "from pv_collector.sunspec_models import load_sunspec_model as m; print(m(802).label)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert definitions.stdout.strip() == "Battery Base Model", definitions.stderr
    listing = "import pv_collector.web.server as s; print(sorted(p.name for p in s.STATIC.rglob('*')))"
    page = subprocess.run(  # the web page's files are in the installed package
        [str(python), "-c", listing],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for name in ("index.html", "app.js", "style.css", "en.json", "de.json"):
        assert name in page
