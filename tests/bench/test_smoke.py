"""Smoke run of every benchmark (bench/run_all.py --smoke): the scripts still run and print their figures.

Timings are never asserted: only that each script ran, printed its `FIGURE` lines and that the document
got them. Run with `-p no:homeassistant` (the harness measurements start their own pytest).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Figures every script must print (names before the colon of `FIGURE name: text`).
EXPECTED = {
    "poll_requests": [
        "requests.sunspec",
        "requests.sdm630",
        "requests.sdm630_target",
        "requests.pv_sim_battery",
        "requests.pv_sim_environment",
    ],
    "poll_plan": ["bus_time.sdm630", "bus_time.sunspec", "rtu_measured.sdm630", "rtu_measured.sunspec"],
    "e2e_latency": ["e2e_latency"],
    "ha_throughput": ["paths.10", "paths.2", "paths.start", "paths.overload"],
    "ha_per_collector": ["per_collector.1", "per_collector.2"],
    "collector_scale": ["scale.1", "scale.2", "scale.linear", "bytes_per_reading", "recorder_rows"],
    "identify_scan": ["identify_scan"],
}


@dataclass
class SmokeRun:
    returncode: int
    output: str
    doc: str

    def section(self, script: str) -> str:
        """What one script printed (run_all heads every script's output with `### <script>`)."""
        match = re.search(rf"^### {script} .*?(?=^### |\Z)", self.output, re.S | re.M)
        return match.group(0) if match else ""


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    doc = tmp_path_factory.mktemp("bench") / "benchmarks.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--smoke", "--doc", str(doc)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    return SmokeRun(result.returncode, result.stdout + result.stderr, doc.read_text() if doc.exists() else "")


@pytest.mark.parametrize("script", list(EXPECTED))
def test_script_prints_its_figures(smoke: SmokeRun, script: str) -> None:
    section = smoke.section(script)
    assert section, f"{script} did not run:\n{smoke.output[-3000:]}"
    printed = set(re.findall(r"^FIGURE ([\w.]+): \S", section, re.M))
    missing = [name for name in EXPECTED[script] if name not in printed]
    assert not missing, f"{script} did not print {missing}:\n{section[-3000:]}"


def test_document_written(smoke: SmokeRun) -> None:
    assert smoke.returncode == 0, smoke.output[-3000:]
    assert smoke.doc.startswith("# Benchmarks")
    for script in EXPECTED:
        assert f"bench/{script}.py" in smoke.doc
    assert "failed in this run" not in smoke.doc
    assert "SMOKE run" in smoke.doc
