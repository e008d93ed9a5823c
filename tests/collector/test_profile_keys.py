"""The profile keys for the devices people own (issue 19): `register_base`, `connection`, `identify`,
`limits.single_registers`, and the point fields `compute`, `write_address` and `chars_per_register`.

Each is loaded from YAML, refused with one clear line when wrong, and shown working where it acts: the
planner, the decoder, and a running collector reading a served device (computed points published, writes
to another register confirmed by reading back, one point per request where the profile says so)."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pv_collector.cli import main
from pv_collector.decode import computed_values, decode, encode
from pv_collector.errors import ExitCode, ProfileError
from pv_collector.identify import probe_outcome
from pv_collector.model import (
    Computation,
    Connection,
    DataType,
    Function,
    IdentifyProbe,
    Point,
    RegisterBase,
)
from pv_collector.planner import optimal_plan, plan_reads
from pv_collector.profile import build_sunspec_points, load_profile
from pv_collector.simulator.devices.base import SimulatedDevice
from pv_collector.simulator.modbus_server import UnitServer
from pv_collector.simulator.profile_image import ProfileImage
from tests.collector.conftest import Recorder, collector_config, running
from tests.mosquitto import Mosquitto

# A hybrid inverter in the style of the drafts: Fox ESS H3 (settings read one register per request, a
# model string one character per register), Growatt SPH (grid power = import - export), Deye (a counter
# split over two registers that are not neighbours) and SolaX (settings written at another address).
HYBRID = """
id: hybrid
name: Test hybrid
kind: inverter
register_base: {holding: 40001, input: 30001}
limits:
  max_block: 100
  max_gap: 10
  single_registers: [[41000, 41011]]
connection:
  tcp_port: 1502
  unit_id: 247
  baudrate: 19200
  parity: E
  stopbits: 1
  delay_after_connect: 1.0
  request_interval: 0.05
  write_function: 16
identify:
  - {function: holding, address: 30000, type: string, count: 4, chars_per_register: 1, match: "^H3"}
  - {function: input, address: 0, type: u16, values: [0, 1, 3]}
  - {function: input, address: 2, type: s16, range: [-100, 100]}
defaults:
  function: holding
points:
  - {key: model, name: Model, address: 30000, type: string, count: 10, chars_per_register: 1, info: model}
  - {key: status, name: Status, function: input, address: 0, options: {0: waiting, 1: normal, 3: fault}}
  - {key: import_power, name: Import power, function: input, address: 10, unit: W, hidden: true}
  - {key: export_power, name: Export power, function: input, address: 11, unit: W, hidden: true}
  - key: grid_power
    name: Grid power
    compute: {sum: [import_power, -export_power]}
    unit: W
    device_class: power
    state_class: measurement
    role: grid_power
  - {key: import_low, name: Import (low word), function: input, address: 20, scale: 0.1, unit: kWh,
     hidden: true}
  - {key: import_high, name: Import (high word), function: input, address: 22, scale: 6553.6, unit: kWh,
     hidden: true}
  - key: energy_import
    name: Imported energy
    compute: {sum: [import_low, import_high]}
    unit: kWh
    device_class: energy
    state_class: total_increasing
    precision: 1
    max_rate: 50
    role: grid_import_energy
  - {key: work_mode, name: Work mode, address: 41000, options: {0: self_use, 1: feed_in, 2: backup},
     writable: true, write_address: 41100}
  - {key: min_soc, name: Minimum SoC, address: 41009, unit: "%", writable: {min: 10, max: 100, step: 1}}
  - {key: max_soc, name: Maximum SoC, address: 41010, unit: "%", writable: {min: 10, max: 100, step: 1}}
  - {key: export_limit, name: Export limit, address: 41020, unit: W, writable: {min: 0, max: 10000, step: 1}}
"""


def write_profile(folder: Path, text: str, name: str = "hybrid") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def hybrid(tmp_path: Path) -> Path:
    return write_profile(tmp_path, HYBRID)


# ---------------------------------------------------------------------------------------------- loading


def test_every_key_loads(hybrid: Path) -> None:
    profile = load_profile(str(hybrid))
    assert profile.register_base == RegisterBase(holding=40001, input=30001)
    assert profile.register_base.document_number(Function.INPUT, 10) == 30011
    assert profile.connection == Connection(
        tcp_port=1502, unit_id=247, baudrate=19200, parity="E", stopbits=1, delay_after_connect=1.0,
        request_interval=0.05, write_function=16,
    )  # fmt: skip
    assert profile.single_registers == ((41000, 41011),)
    assert profile.identify[0] == IdentifyProbe(
        function=Function.HOLDING, address=30000, type=DataType.STRING, count=4, chars_per_register=1,
        match="^H3",
    )  # fmt: skip
    assert profile.identify[1].values == (0, 1, 3)
    assert profile.identify[2].range == (-100.0, 100.0)
    points = {point.key: point for point in profile.points}
    assert points["grid_power"].compute == Computation((("import_power", 1), ("export_power", -1)))
    assert points["grid_power"].words == 0
    assert (points["work_mode"].address, points["work_mode"].target) == (41000, 41100)
    assert points["min_soc"].target == 41009
    assert points["model"].chars_per_register == 1


def test_a_single_base_applies_to_both_tables(tmp_path: Path) -> None:
    path = write_profile(
        tmp_path, "id: one\nname: One\nregister_base: 1\npoints:\n  - {key: a, name: A, address: 5}\n", "one"
    )
    base = load_profile(str(path)).register_base
    assert (base.document_number(Function.HOLDING, 4999), base.document_number(Function.INPUT, 0)) == (
        5000,
        1,
    )
    assert load_profile("sdm630").register_base == RegisterBase(holding=40001, input=30001)


BAD = [
    (
        "register_base: -1\n",
        "",
        "register_base: -1 is not a valid value (expected the number the document gives wire address 0",
    ),
    (
        "register_base: {coils: 1}\n",
        "",
        "register_base.coils: unknown register table (expected one of holding | input)",
    ),
    (
        "connection: {baudrate: 9601}\n",
        "",
        "connection.baudrate: 9601 is not a valid value (expected one of 1200 | 2400",
    ),
    (
        "connection: {parity: X}\n",
        "",
        "connection.parity: 'X' is not a valid value (expected one of N | E | O)",
    ),
    (
        "connection: {write_function: 5}\n",
        "",
        "connection.write_function: 5 is not a valid value (expected one of 6 | 16)",
    ),
    (
        "connection: {request_interval: 90}\n",
        "",
        "connection.request_interval: 90 is not a valid value (expected 0..60 (seconds))",
    ),
    ("connection: {unit: 1}\n", "", "connection.unit: unknown field"),
    (
        "limits: {single_registers: [[5, 2]]}\n",
        "",
        "limits.single_registers[0]: the first register (5) comes after the last (2)",
    ),
    (
        "limits: {single_registers: [7]}\n",
        "",
        "limits.single_registers[0]: 7 is not a valid value (expected [first, last] register addresses",
    ),
    ("identify: []\n", "", "identify: at least one probe is required"),
    (
        "identify:\n  - {address: 1, values: [1], range: [0, 2]}\n",
        "",
        "identify[0].match: a probe takes exactly one of match, values, range (found: values, range)",
    ),
    (
        "identify:\n  - {address: 1}\n",
        "",
        "identify[0].match: a probe takes exactly one of match, values, range (found: none)",
    ),
    ("identify:\n  - {address: 1, match: x}\n", "", "identify[0].match: only string probes take match"),
    (
        "identify:\n  - {address: 1, type: string, count: 2, match: '[a'}\n",
        "",
        "identify[0].match: '[a' is not a valid regular expression",
    ),
    (
        "identify:\n  - {address: 1, values: [70000]}\n",
        "",
        "identify[0].values: 70000 does not fit a u16 register",
    ),
    (
        "identify:\n  - {address: 1, type: string, values: [1]}\n",
        "",
        "identify[0].values: only integer probes take values",
    ),
    (
        "identify:\n  - {address: 1, count: 2, values: [1]}\n",
        "",
        "identify[0].count: only string probes take count",
    ),
    (
        "identify:\n  - {address: 65535, type: u32, values: [1]}\n",
        "",
        "identify[0].address: 2 registers from 65535 run past",
    ),
    ("identify:\n  - {address: 1, values: [1], colour: red}\n", "", "identify[0].colour: unknown field"),
    (
        "",
        "  - {key: c, name: C, compute: {sum: [p, -q]}}\n",
        "points[1] (c).compute: no point has the key 'q'",
    ),
    (
        "",
        "  - {key: c, name: C, compute: {sum: []}}\n",
        "points[1] (c).compute.sum: [] is not a valid value (expected a non-empty list of point keys",
    ),
    (
        "",
        "  - {key: c, name: C, compute: {product: [p]}}\n",
        "points[1] (c).compute: {'product': ['p']} is not a valid value (expected {sum: [point, -point",
    ),
    (
        "",
        "  - {key: c, name: C, compute: {sum: [p, p]}}\n",
        "points[1] (c).compute.sum[1]: point 'p' appears twice",
    ),
    (
        "",
        "  - {key: c, name: C, compute: {sum: ['p q']}}\n",
        "points[1] (c).compute.sum[0]: 'p q' is not a valid value (expected a point key",
    ),
    (
        "",
        "  - {key: c, name: C, compute: {sum: [c]}}\n",
        "points[1] (c).compute: a point cannot be computed from itself",
    ),
    (
        "",
        "  - {key: c, name: C, address: 4, compute: {sum: [p]}}\n",
        "points[1] (c).address: not allowed on a computed point",
    ),
    (
        "",
        "  - {key: c, name: C, compute: {sum: [p]}, writable: true}\n",
        "points[1] (c).writable: not allowed on a computed point",
    ),
    (
        "",
        "  - {key: c, name: C, compute: {sum: [p]}}\n  - {key: d, name: D, compute: {sum: [c]}}\n",
        "points[2] (d).compute: 'c' is itself computed",
    ),
    (
        "",
        "  - {key: t, name: T, address: 9, type: string, count: 2}\n"
        "  - {key: c, name: C, compute: {sum: [t]}}\n",
        "points[2] (c).compute: 't' is a text point, not a number",
    ),
    (
        "",
        "  - {key: c, name: C, compute: {sum: [p]}, resets: daily}\n",
        "points[1] (c).resets: only total_increasing points take resets",
    ),
    (
        "",
        "  - {key: w, name: W, address: 9, write_address: 20}\n",
        "points[1] (w).write_address: only writable points",
    ),
    (
        "",
        "  - {key: w, name: W, address: 9, type: u32, write_address: 65535, writable: {min: 0, max: 1}}\n",
        "points[1] (w).write_address: 2 registers from 65535 run past 65535",
    ),
    (
        "",
        "  - {key: s, name: S, address: 9, chars_per_register: 1}\n",
        "points[1] (s).chars_per_register: only string points",
    ),
    (
        "",
        "  - {key: s, name: S, address: 9, type: string, chars_per_register: 3}\n",
        "points[1] (s).chars_per_register: 3 is not a valid value (expected one of 1 | 2)",
    ),
]


@pytest.mark.parametrize(("extra", "points", "expected"), BAD, ids=[line for _e, _p, line in BAD])
def test_a_mistake_is_one_line_naming_the_field(
    tmp_path: Path, extra: str, points: str, expected: str
) -> None:
    text = f"id: bad\nname: Bad\n{extra}points:\n  - {{key: p, name: P, address: 1}}\n{points}"
    with pytest.raises(ProfileError) as error:
        load_profile(str(write_profile(tmp_path, text, "bad")))
    lines = str(error.value).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("bad.yaml: ")
    assert expected in lines[0]


def test_sunspec_models_take_no_computed_points_or_write_addresses() -> None:
    raw = [
        {"key": "a", "name": "A", "address": 0},
        {"key": "c", "name": "C", "compute": {"sum": ["a"]}},
        {"key": "w", "name": "W", "address": 1, "writable": {"min": 0, "max": 5}, "write_address": 3},
    ]
    with pytest.raises(ProfileError) as error:
        build_sunspec_points(raw, "model_64999.json", ["model 64999 A", "model 64999 C", "model 64999 W"])
    assert str(error.value).splitlines() == [
        "model_64999.json: model 64999 C (c).compute: not in SunSpec model definitions",
        "model_64999.json: model 64999 W (w).write_address: not in SunSpec model definitions",
    ]


# ---------------------------------------------------------------------------------------------- planner


def test_single_registers_are_read_one_point_per_request_and_never_bridged(hybrid: Path) -> None:
    profile = load_profile(str(hybrid))
    holding = [
        p for p in profile.points if p.function is Function.HOLDING and p.info is None and not p.computed
    ]
    plan = plan_reads(holding, max_block=100, max_gap=10, single_registers=profile.single_registers)
    assert [(block.address, block.count) for block in plan] == [
        (41000, 1),
        (41009, 1),
        (41010, 1),
        (41020, 1),
    ]
    # without the limit the planner joins 41000..41020 in one read that the device refuses
    assert [(b.address, b.count) for b in plan_reads(holding, max_block=100, max_gap=10)] == [(41000, 21)]
    # a block of other points stops before the range instead of reaching into it
    near = [Point(key="a", name="A", address=40995), Point(key="b", name="B", address=41012)]
    bridged = plan_reads([*near, *holding], max_gap=20, single_registers=profile.single_registers)
    assert [(b.address, b.count) for b in bridged] == [
        (40995, 1),
        (41000, 1),
        (41009, 1),
        (41010, 1),
        (41012, 9),
    ]
    optimal = optimal_plan(holding, max_block=100, single_registers=profile.single_registers)
    assert [(b.address, b.count) for b in optimal] == [(41000, 1), (41009, 1), (41010, 1), (41020, 1)]


def test_computed_points_read_their_inputs_not_themselves(hybrid: Path) -> None:
    profile = load_profile(str(hybrid))
    grid = next(p for p in profile.points if p.key == "grid_power")
    plan = plan_reads([grid], all_points=profile.points)
    assert [(b.function, b.address, b.count, [p.key for p in b.points]) for b in plan] == [
        (Function.INPUT, 10, 2, ["import_power", "export_power"])
    ]


# ---------------------------------------------------------------------------------------------- decoder


def test_one_character_per_register_strings() -> None:
    model = Point(
        key="model", name="Model", address=30000, type=DataType.STRING, count=10, chars_per_register=1
    )
    registers = [ord(c) for c in " H3-10.0-E"]  # Fox ESS H3: one ASCII character in each register's low byte
    assert decode(model, registers) == "H3-10.0-E"
    assert encode(model, " H3-10.0-E") == registers
    packed = Point(key="m", name="M", address=0, type=DataType.STRING, count=5)
    assert decode(packed, registers[:5]) != "H3-10"  # the usual two per register reads them wrong
    probe = IdentifyProbe(function=Function.HOLDING, address=30000, type=DataType.STRING, count=4,
                          chars_per_register=1, match="^H3-")  # fmt: skip
    assert probe_outcome(probe, registers[:4]) == ("match", "H3-")  # the decoded text: spaces stripped


def test_computed_values_sum_their_terms_of_the_same_cycle(hybrid: Path) -> None:
    points = load_profile(str(hybrid)).points
    values: dict[str, Any] = {
        "import_power": 120,
        "export_power": 3400,
        "import_low": 4943 * 0.1,
        "import_high": 1 * 6553.6,
    }
    computed = computed_values(points, values)
    assert computed == {"grid_power": -3280, "energy_import": 7047.9}
    assert isinstance(computed["grid_power"], int)
    assert (
        computed_values(points, {"import_power": 120}) == {}
    )  # an input missing: no value, no mix of cycles
    assert computed_values(points, {"import_power": 1, "export_power": True}) == {}
    scaled = Point(
        key="s", name="S", address=0, scale=0.5, offset=1, compute=Computation((("a", 1), ("b", 1)))
    )
    assert computed_values([scaled], {"a": 3, "b": 4.5}) == {"s": 4.75}


# ---------------------------------------------------------------------------------------------- check


def test_check_prints_document_numbers_computed_points_and_hints(
    tmp_path: Path, hybrid: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(
        textwrap.dedent(f"""
        collector: {{id: test}}
        mqtt: {{host: 127.0.0.1}}
        buses:
          - name: rs485
            type: serial
            port: /dev/ttyUSB0
            baudrate: 9600
            devices:
              - {{id: inverter, unit_id: 1, profile: {hybrid}}}
        """),
        encoding="utf-8",
    )
    assert main(["check", "--config", str(config)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "input       0 +23  (doc 30001-30023) status, import_power, export_power, import_low" in out
    assert "holding 41000 +1   (doc 81001-81001) work_mode" in out
    assert "computed from the reads above: grid_power, energy_import" in out
    assert "hint: the vendor documents baud 19200 (this bus: 9600)" in out
    assert "hint: the vendor documents parity E (this bus: N)" in out
    assert "hint: the vendor's default unit id is 247 (this device: 1)" in out


# ---------------------------------------------------------------------------------------------- running


class Device(SimulatedDevice):
    """The test hybrid as a served device: its registers laid out from the profile."""


@pytest.fixture
async def served(
    hybrid: Path,
) -> AsyncIterator[tuple[UnitServer, ProfileImage, int, list[tuple[Function, int, int]]]]:
    layout = ProfileImage.from_profile(load_profile(str(hybrid)))
    for key, value in {"status": "normal", "import_power": 120, "export_power": 3400, "import_low": 494.3,
                       "import_high": 6553.6, "work_mode": "self_use", "min_soc": 10, "max_soc": 100,
                       "export_limit": 5000, "model": " H3-10.0-E"}.items():  # fmt: skip
        layout.set(key, value)
    server = UnitServer({247: Device(247, layout)})
    reads: list[tuple[Function, int, int]] = []
    server.on_read = lambda _unit, function, address, count: reads.append((function, address, count))
    port = await server.start("127.0.0.1", 0)
    try:
        yield server, layout, port, reads
    finally:
        await server.stop()


async def test_a_running_collector_publishes_computed_points_and_writes_at_the_write_address(
    broker: Mosquitto, recorder: Recorder, tmp_path: Path, hybrid: Path,
    served: tuple[UnitServer, ProfileImage, int, list[tuple[Function, int, int]]],
) -> None:  # fmt: skip
    server, layout, port, reads = served
    devices = [{"id": "hybrid", "name": "Hybrid", "unit_id": 247, "profile": str(hybrid)}]
    async with running(collector_config(tmp_path / "data", broker.port, port, devices=devices)):
        # a new counter's first value is published once three readings agree (plausibility.FIRST_CONFIRM)
        state = await recorder.wait(
            "pv_monitor/test/hybrid/state", lambda m: "energy_import" in m.json()["v"]
        )
        assert state.json()["v"]["grid_power"] == -3280
        assert state.json()["v"]["energy_import"] == pytest.approx(7047.9)
        assert "import_power" not in state.json()["v"]  # hidden inputs are read, not published
        topic = "pv_monitor/test/hybrid/event"
        recorder.publish("pv_monitor/test/hybrid/set/work_mode", '{"value": "backup"}')
        event = await recorder.wait(topic, lambda m: m.json().get("point") == "work_mode")
        assert event.json()["ok"] is True, event.json()
        assert layout.get("work_mode") == "backup"  # written at 41100, read back from 41000
    holding = [(address, count) for function, address, count in reads if function is Function.HOLDING]
    assert {(41000, 1), (41009, 1), (41010, 1)} <= set(holding)
    assert all(count == 1 for address, count in holding if 41000 <= address <= 41011)
    assert sum(server.writes.values()) == 1


async def test_a_write_at_the_read_address_is_refused_by_such_a_device(
    served: tuple[UnitServer, ProfileImage, int, list[tuple[Function, int, int]]],
) -> None:
    from pymodbus.client import AsyncModbusTcpClient

    _server, layout, port, _reads = served
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
    await client.connect()
    try:
        refused = await client.write_register(41000, 2, device_id=247)
        accepted = await client.write_register(41100, 1, device_id=247)
    finally:
        client.close()
    assert refused.isError()
    assert refused.exception_code == 2
    assert not accepted.isError()
    assert layout.get("work_mode") == "feed_in"
