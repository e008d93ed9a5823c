"""Smoke of bench/fuzz.py: it runs the fuzzers of tests/reliability/fuzzing.py and counts its cases."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.test_soak import run_bench


def test_fuzz_bench_runs_and_counts_its_cases(tmp_path: Path) -> None:
    code, output, figures = run_bench(
        "fuzz.py", "--cases", "60", json_file=tmp_path / "fuzz.json", timeout=120
    )
    assert code == 0, output
    counts = {
        name: figures[f"fuzz.{name}"]["cases"]
        for name in ("commands", "configurations", "configuration_files")
    }
    assert all(isinstance(count, int) and count > 0 for count in counts.values()), counts
    assert figures["fuzz.total"]["cases"] == sum(counts.values()) >= 60
