"""Build (idempotently) bench/.venv-core: Home Assistant with its core `modbus` integration's own pins.

Core `modbus` pins a pymodbus older than the collector's, so it cannot share the project's .venv. This
venv is made from the same base interpreter as .venv, gets `homeassistant==<HA_VERSION>` plus every
requirement in the installed `homeassistant/components/modbus/manifest.json` (and the frontend's: without
it hass starts in recovery mode, without YAML integrations), and records what it
installed in bench/.venv-core/bench-core.json; a second run with the same pins does nothing.

    .venv/bin/python bench/core_venv.py          # prints the venv's python path
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE_VENV = ROOT / "bench" / ".venv-core"
HA_VERSION = "2026.10.4"
STAMP = CORE_VENV / "bench-core.json"


def requirements(component: str) -> list[str]:
    """The requirements a core component names in the Home Assistant installed in the project's .venv."""
    import importlib.util

    spec = importlib.util.find_spec("homeassistant")  # the package only: core modbus needs its own pins
    if spec is None or spec.origin is None:
        raise SystemExit("homeassistant is not installed in this interpreter")
    manifest = Path(spec.origin).parent / "components" / component / "manifest.json"
    return list(json.loads(manifest.read_text())["requirements"])


def core_python() -> Path:
    return CORE_VENV / "bin" / "python"


def build(log: bool = True) -> Path:
    """Create or update the venv; return its python. Raises CalledProcessError when pip fails."""
    # Without the frontend package hass starts in recovery mode, which loads no YAML integrations.
    pins = [f"homeassistant=={HA_VERSION}", *requirements("modbus"), *requirements("frontend")]
    wanted = {"base": sys._base_executable, "pins": pins}  # type: ignore[attr-defined]
    if STAMP.exists() and json.loads(STAMP.read_text()) == wanted and core_python().exists():
        return core_python()
    if not core_python().exists():
        venv.EnvBuilder(with_pip=True).create(CORE_VENV)
    # venv.EnvBuilder runs under .venv's python: make sure the base interpreter is the one behind it.
    out = None if log else subprocess.DEVNULL
    subprocess.run(
        [str(core_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q", *pins],
        check=True,
        stdout=out,
        stderr=None,
    )
    STAMP.write_text(json.dumps(wanted))
    return core_python()


def main() -> None:
    print(build())


if __name__ == "__main__":
    main()
