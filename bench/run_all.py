"""Run every benchmark and rewrite docs/benchmarks.md (about 12 minutes on 2 busy cores).

Each script runs in its own process with `--json`; the figures and tables they return, the machine's
conditions and the hand-written findings (bench/findings.md: profiles, before/after) make the document.
A full run first builds bench/.venv-core when it is missing (bench/core_venv.py: Home Assistant with core
`modbus`'s own pins, for section 1), so the comparison with core `modbus` is always in the document; if
the build fails, the document says why and how to build it.
`--smoke` runs every script for a few seconds only (the test suite does that so the scripts cannot rot;
Home Assistant core is then not built or started) and writes the document wherever `--doc` says.

    .venv/bin/python bench/run_all.py                    # full run, rewrites docs/benchmarks.md
    .venv/bin/python bench/run_all.py --smoke --doc /tmp/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, machine

BENCH = ROOT / "bench"
DOC = ROOT / "docs" / "benchmarks.md"
FINDINGS = BENCH / "findings.md"
RESULTS = BENCH / "results"  # the last run's JSON per script (gitignored), for --render

# (script, title, what it answers, full arguments, smoke arguments)
SCRIPTS: list[tuple[str, str, str, list[str], list[str]]] = [
    (
        "poll_requests",
        "1. Requests per poll cycle: collector vs Home Assistant core `modbus`",
        "Modbus requests per cycle for the same points of the same simulated devices, counted at the server "
        "by a Modbus TCP proxy (bench/mbap_proxy.py). Core `modbus` runs as a real `hass` from "
        "bench/.venv-core (homeassistant 2026.10.4 with the pins of its modbus manifest), "
        "one sensor per point",
        ["--seconds", "20"],
        ["--seconds", "2", "--skip-core"],
    ),
    (
        "poll_plan",
        "2. Bus time against the physical limit (RTU, 9600 baud)",
        "Modelled bus time per cycle of the planner, the exact optimum and one read per point; then a real "
        "cycle measured over a throttled pseudo-terminal line (bench/rtu_relay.py) against its model.",
        ["--measure", "--cycles", "10"],
        ["--measure", "--cycles", "1"],
    ),
    (
        "e2e_latency",
        "3. End-to-end latency (register change to Home Assistant state)",
        "Simulator -> collector -> Mosquitto -> Home Assistant's MQTT client -> pv_monitor entity, poll wait "
        "excluded (from the serving of the read that carried the new value).",
        ["--changes", "1000"],
        ["--changes", "30", "--devices", "3"],
    ),
    (
        "ha_throughput",
        "4. pv_monitor against Home Assistant's own MQTT integration, and the direct-write floor",
        "The same collector stream (50 devices x 40 points; every value changing, then publish-on-change "
        "messages of 3 changed values) through a real Mosquitto, consumed once by pv_monitor and once by "
        "Home Assistant's `mqtt` integration from the collector's standard discovery (`mqtt.ha_discovery`, "
        "its value templates), each in a fresh Home Assistant of the test harness in its own process; in "
        "the same process the floor: as many changed entity states written directly "
        "(`async_write_ha_state` of plain sensors). Then what became of every message under overload.",
        [
            *("--devices", "50", "--points", "40", "--rounds", "100"),
            *("--changed-per-message", "40", "3", "--qos0"),
        ],
        [
            *("--devices", "5", "--points", "10", "--rounds", "10"),
            *("--changed-per-message", "10", "2", "--one-process", "--idle-end", "1", "--settle", "0.2"),
        ],
    ),
    (
        "ha_per_collector",
        "4b. The integration's cost per collector",
        "1, 5 and 10 collectors of 4 devices each (the integration tests' fixture announcement and states) "
        "in Home Assistant's harness: set-up time, entities and RSS per collector, cost per state message.",
        ["--collectors", "1", "5", "10", "--rounds", "20"],
        ["--collectors", "1", "2", "--rounds", "2"],
    ),
    (
        "collector_scale",
        "5. Collector scale and footprint",
        "10 to 1,000 simulated devices polled every second: CPU per device-cycle, period kept, peak RSS, "
        "the simulator's share of a core; whether the cost grows linearly and where one core runs out; the "
        "functions with the most own time at 1,000 devices (cProfile); bytes per reading against one topic "
        "per point and one JSON object per device as Zigbee2MQTT and Tasmota publish; recorder rows per "
        "hour with and without publish-on-change.",
        ["--devices", "10", "100", "300", "1000", "--seconds", "15", "--profile"],
        ["--devices", "1", "2", "--seconds", "1", "--warm-up", "0.5", "--footprint-devices", "2"],
    ),
    (
        "identify_scan",
        "6. Identifying the devices on an RS-485 line",
        "`pv-collector identify` scanning units 1..247 at 9600 baud over a pseudo-terminal line paced like a "
        "real one (bench/rtu_relay.py), with register images of four devices answering (tests/fixtures): the "
        "issue asks for a full scan at one speed within a minute.",
        ["--units", "247"],
        ["--units", "12"],
    ),
]


def prepare_core_venv() -> str:
    """Build bench/.venv-core when missing (a no-op when its pins are installed); one line for the doc."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(BENCH / "core_venv.py")], cwd=ROOT, capture_output=True, text=True, check=False
    )
    elapsed = time.monotonic() - started
    if result.returncode == 0:
        return f"bench/.venv-core ready ({elapsed:.0f} s: built by bench/core_venv.py when missing)"
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    reason = lines[-1] if lines else f"exit code {result.returncode}"
    return (
        f"bench/.venv-core could NOT be built ({reason}), so core `modbus` is not measured in section 1: "
        "build it with `.venv/bin/python bench/core_venv.py` (it needs PyPI or a wheel cache for "
        "homeassistant==2026.10.4 and core modbus's pins) and run again"
    )


def run(script: str, arguments: list[str], out: Path) -> tuple[dict[str, Any] | None, float, str]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(BENCH / f"{script}.py"), *arguments, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    print(result.stdout, end="", flush=True)
    if result.returncode != 0 or not out.exists():
        print(result.stderr[-4000:], file=sys.stderr)
        return None, elapsed, result.stderr[-1500:]
    return json.loads(out.read_text()), elapsed, ""


def markdown_table(table: dict[str, Any]) -> str:
    header = table["header"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in table["rows"]]
    return "\n".join(lines)


def render(
    results: list[tuple[str, str, str, list[str], dict[str, Any] | None, float, str]],
    smoke: bool,
    total: float,
    core: str,
) -> str:
    kind = "SMOKE run (seconds only: not figures to quote)" if smoke else "full run"
    measured = [data for *_, data, _elapsed, _error in results if data is not None]
    started = measured[0]["when"] if measured else time.strftime("%Y-%m-%d %H:%M:%S %Z")
    where = measured[0]["machine"] if measured else machine()
    total = total or sum(elapsed for *_, elapsed, _error in results)
    parts = [
        "# Benchmarks",
        "",
        "Generated by `bench/run_all.py` — do not edit by hand (the findings come from `bench/findings.md`).",
        "",
        f"- Run: {started}, {kind}, {total:.0f} s in all",
        f"- Machine: {where}. The two cores are shared with several other engineers' builds and tests "
        "running at the same time (the load average says how busy): wall-clock timings are noisy; read the "
        "ratios, which are measured in the same run.",
        f"- Home Assistant core for section 1: {core}.",
        "- Reproduce: `.venv/bin/python bench/run_all.py` (each script also runs alone, `--help` lists its"
        " options; every figure line starts with `FIGURE`).",
        "",
    ]
    for script, title, about, arguments, data, elapsed, error in results:
        parts += [
            f"## {title}",
            "",
            about,
            "",
            f"`.venv/bin/python bench/{script}.py {' '.join(arguments)}` ({elapsed:.0f} s)",
            "",
        ]
        if data is None:
            parts += ["**This benchmark failed in this run:**", "", "```", error.strip(), "```", ""]
            continue
        parts += [f"- {figure['text']}" for figure in data["figures"].values()]
        parts.append("")
        for name, table in data["tables"].items():
            parts += [f"Table `{name}`:", "", markdown_table(table), ""]
        if data["notes"]:
            parts += ["Notes:", ""] + [f"- {note}" for note in data["notes"]] + [""]
    if FINDINGS.exists():
        parts += [FINDINGS.read_text().strip(), ""]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds per script")
    parser.add_argument("--doc", default=str(DOC), help="where to write the document")
    parser.add_argument("--only", nargs="+", help="run only these scripts (others: last results, if any)")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the document from the last results"
    )
    args = parser.parse_args()
    started = time.monotonic()
    results = []
    failed = []
    core = "not built (smoke run: section 1 skips core `modbus`)"
    core_note = RESULTS / "core_venv.txt"  # kept for --render and --only
    if not args.smoke and not args.render and (not args.only or "poll_requests" in args.only):
        print("### core_venv", flush=True)
        core = prepare_core_venv()
        print(core, flush=True)
        RESULTS.mkdir(exist_ok=True)
        core_note.write_text(core)
    elif args.render or args.only:
        core = core_note.read_text() if core_note.exists() else "as in the run that measured section 1"
    # Smoke runs (the test suite) keep nothing; full runs keep their results for --render.
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        folder = Path(tmp) if args.smoke else RESULTS
        folder.mkdir(exist_ok=True)
        for script, title, about, full, smoke in SCRIPTS:
            arguments = smoke if args.smoke else full
            saved = folder / f"{script}.json"
            if args.render or (args.only and script not in args.only):
                if saved.exists():
                    data = json.loads(saved.read_text())
                    results.append((script, title, about, arguments, data, data.get("elapsed", 0.0), ""))
                continue
            print(f"### {script} {' '.join(arguments)}", flush=True)
            saved.unlink(missing_ok=True)
            data, elapsed, error = run(script, arguments, saved)
            if data is None:
                failed.append(script)
            else:
                data["elapsed"] = elapsed
                saved.write_text(json.dumps(data, indent=1))
            results.append((script, title, about, arguments, data, elapsed, error))
    total = 0.0 if args.render else time.monotonic() - started
    Path(args.doc).write_text(render(results, args.smoke, total, core))
    print(f"wrote {args.doc} in {total:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
