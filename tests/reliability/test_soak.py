"""A ~9 s soak (bench/soak.py with few devices, a broker restart every 3 s and a device fault every 2.5 s):
nothing is lost, nothing arrives out of order, the collector exits cleanly. Timings and RSS are figures
of the bench run (docs/reliability.md), never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(
    script: str, *args: str, json_file: Path, timeout: float
) -> tuple[int, str, dict[str, dict[str, object]]]:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, "--json", str(json_file)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    output = result.stdout + result.stderr
    figures = json.loads(json_file.read_text())["figures"] if json_file.exists() else {}
    return result.returncode, output, figures


def test_short_soak_loses_nothing(tmp_path: Path) -> None:
    code, output, figures = run_bench(
        "soak.py",
        *("--devices", "8", "--minutes", "0.15", "--restart-every", "3", "--fault-every", "2.5"),
        json_file=tmp_path / "soak.json",
        timeout=120,
    )
    assert code == 0, output
    readings = figures["soak.readings"]
    assert readings["broker_restarts"] >= 2, "the broker was restarted during the run"
    assert readings["device_faults"] >= 2, "devices failed during the run"
    assert readings["produced"] > 8 * 5, "every device produced readings"
    assert readings["lost"] == 0, output
    assert readings["delivered"] + readings["queued_at_end"] == readings["produced"], output
    assert readings["out_of_order"] == 0, output
    assert readings["exit_code"] == 0, output
    assert readings["log_errors"] == 0, output
    assert "soak.rss" in figures
    assert "soak.log" in figures
