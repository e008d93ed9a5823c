"""Fuzzing at volume: >= 10,000 hypothesis cases over the fuzzers of tests/reliability/fuzzing.py.

Runs the same strategies and checks as tests/reliability/test_fuzz.py (imported, not copied), with many
more examples:
- commands: (device, point, payload) handed to a running collector wired to the simulated devices;
  every Modbus write is checked against the profile's writable points and their ranges, and the
  collector must keep polling;
- configurations: data with every kind of mistake through `validate_config` (a Config or ConfigError
  lines, never a traceback, never the password);
- configuration files: text through `pv-collector check` (exit 0 or 2, never a traceback).

Prints the number of cases run per fuzzer and in total (target >= 10,000), and the failures (a failure
re-raises hypothesis' minimal example, so the exit code is 1).

    .venv/bin/python bench/fuzz.py [--cases 10000] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import Report, machine, verdict
from hypothesis import HealthCheck, given, settings

from pv_collector.cli import main as cli_main
from tests.mosquitto import free_port
from tests.reliability.fuzzing import (
    COMMAND_PAYLOADS,
    CONFIGS,
    DEVICE_IDS,
    POINT_KEYS,
    YAML_TEXTS,
    check_config,
    check_config_file_output,
    command_rig,
)

# Share of the cases per fuzzer (commands are the slowest: each goes through the running collector).
SHARES = {"commands": 0.4, "configurations": 0.45, "configuration_files": 0.15}


class _CountingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname.lower()] = self.counts.get(record.levelname.lower(), 0) + 1


def _settings(cases: int) -> settings:
    return settings(max_examples=cases, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def run(name: str, cases: int, test: Callable[[], None], counter: list[int], report: Report) -> int:
    started = time.monotonic()
    counter[0] = 0
    test()
    report.figure(
        f"fuzz.{name}",
        f"{counter[0]} cases in {time.monotonic() - started:.1f} s, no failure",
        cases=counter[0],
    )
    return counter[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--cases", type=int, default=10_000, help="total number of cases (split by SHARES)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    report = Report("fuzz")
    report.note(machine())
    logged = _CountingHandler()
    logging.getLogger().handlers[:] = [logged]  # the collector's messages are counted, not printed
    logging.getLogger().setLevel(logging.INFO)
    split = {name: max(1, round(args.cases * share)) for name, share in SHARES.items()}
    counter = [0]
    total = 0
    with tempfile.TemporaryDirectory(prefix="pv-fuzz-") as tmp:
        directory = Path(tmp)
        with command_rig(directory / "commands", free_port()) as rig:

            @_settings(split["commands"])
            @given(device=DEVICE_IDS, point=POINT_KEYS, payload=COMMAND_PAYLOADS)
            def commands(device: str, point: str, payload: bytes) -> None:
                counter[0] += 1
                rig.command(device, point, payload)
                rig.check_writes()
                assert rig.collector.pollers["meter"].availability == "online", "the collector keeps polling"

            total += run("commands", split["commands"], commands, counter, report)

        @_settings(split["configurations"])
        @given(CONFIGS)
        def configurations(data: object) -> None:
            counter[0] += 1
            check_config(data)

        total += run("configurations", split["configurations"], configurations, counter, report)

        config_file = directory / "collector.yaml"

        @_settings(split["configuration_files"])
        @given(YAML_TEXTS)
        def configuration_files(text: str) -> None:
            counter[0] += 1
            config_file.write_text(text, encoding="utf-8", errors="surrogateescape")
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli_main(["check", "--config", str(config_file)])
            check_config_file_output(text, code, out.getvalue(), err.getvalue())

        total += run(
            "configuration_files", split["configuration_files"], configuration_files, counter, report
        )
    report.figure(
        "fuzz.total",
        f"{total} cases run (target >= 10,000: {verdict(total >= 10_000)}), no failure",
        cases=total,
    )
    report.figure(
        "fuzz.log",
        "collector log records during the run: "
        + ", ".join(f"{level} {count}" for level, count in sorted(logged.counts.items())),
        **logged.counts,
    )
    report.write(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
