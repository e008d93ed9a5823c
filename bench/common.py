"""What every benchmark script shares: figure lines, the JSON result file, ports, percentiles.

Every script prints one line per figure, starting with `FIGURE <name>:` (the smoke tests look for them),
and with `--json FILE` also writes its figures and tables there (bench/run_all.py turns them into
docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> str:
    """One line describing where the numbers were taken."""
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"{os.cpu_count()} CPUs, load average {load}, Python {sys.version.split()[0]}"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


@dataclass
class Report:
    """Figures and tables of one benchmark script."""

    script: str
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def figure(self, name: str, text: str, **values: Any) -> None:
        """Print and keep one figure line."""
        print(f"FIGURE {name}: {text}", flush=True)
        self.figures[name] = {"text": text, **values}

    def table(self, name: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Print and keep one table (also as plain text columns)."""
        widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
        print("  ".join(str(h).rjust(w) for h, w in zip(header, widths, strict=True)))
        for row in rows:
            print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
        self.tables[name] = {"header": list(header), "rows": [list(map(str, r)) for r in rows]}

    def note(self, text: str) -> None:
        print(f"note: {text}", flush=True)
        self.notes.append(text)

    def write(self, path: str | None) -> None:
        if path:
            data = {
                "script": self.script,
                "machine": machine(),
                "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                "figures": self.figures,
                "tables": self.tables,
                "notes": self.notes,
            }
            Path(path).write_text(json.dumps(data, indent=1))


def wait_port(port: int, timeout: float = 20.0, host: str = "127.0.0.1") -> None:
    """Return once something accepts TCP connections on `port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port}")


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction 0..1) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def run_harness(measurement: str, env: dict[str, str], out: Path, timeout: float = 540) -> dict[str, Any]:
    """Run one bench/harness/measure_*.py under Home Assistant's pytest harness; return its JSON."""
    import subprocess

    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "-x",
        "--timeout",
        str(int(timeout)),
        str(ROOT / "bench" / "harness" / f"measure_{measurement}.py"),
    ]
    result = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **env, "BENCH_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=timeout + 60,
        check=False,
    )
    if result.returncode != 0 or not out.exists():
        raise RuntimeError(
            f"harness measurement {measurement} failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}"
        )
    return dict(json.loads(out.read_text()))
