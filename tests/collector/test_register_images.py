"""Register images end to end: the file format (one clear line for a bad file), `pv-collector record` from
a device, `pv-collector decode`, and `pv-collector simulate --image` serving images over Modbus TCP and RTU
through a pseudo-terminal, with refusals, unit ids, and a replayed device that changes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from pv_collector.cli import main
from pv_collector.errors import ImageError, RegisterError
from pv_collector.model import Function
from pv_collector.register_image import (
    Identity,
    Refusal,
    RegisterImage,
    Source,
    SourceKind,
    load_image,
    parse_image,
)
from pv_collector.simulator import METER_UNIT, Simulation
from pv_collector.simulator.replay import ImageArgument, run_replay
from tests.collector.conftest import FIXED_TIME
from tests.collector.device_images import FIXTURES, image_paths
from tests.mosquitto import free_port

METER_IMAGE = FIXTURES / "sdm630" / "mbmd_63_usr410.json"


def small_image() -> RegisterImage:
    """Holding 100..104, input 0..3, a range refused with exception 4 and one that is never answered."""
    image = RegisterImage(
        identity=Identity(profile="sdm630", unit_id=5),
        source=Source(kind=SourceKind.DEVICE, citation="test"),
        refused=[Refusal(Function.HOLDING, 200, 2, 4), Refusal(Function.HOLDING, 300, 1, None)],
    )
    image.put(Function.HOLDING, 100, [1, 2, 3, 4, 5])
    image.put(Function.INPUT, 0, [0x4370, 0x8000, 0, 0])
    return image


# ------------------------------------------------------------------------------------------ the format


@pytest.mark.parametrize("path", [*image_paths()[:3], METER_IMAGE], ids=lambda p: p.stem)
def test_the_file_text_is_canonical(path: Path) -> None:
    """Writing an image gives back the file byte for byte (stable order, ten registers per line)."""
    assert load_image(path).to_json() == path.read_text(encoding="utf-8")


def test_a_round_trip_keeps_everything(tmp_path: Path) -> None:
    image = small_image()
    image.not_implemented = []
    path = tmp_path / "image.json"
    image.save(path)
    again = load_image(path)
    assert again == image
    assert again.read(Function.HOLDING, 101, 3) == [2, 3, 4]


def _valid() -> dict[str, Any]:
    return json.loads(small_image().to_json())


def _with(change: dict[str, Any]) -> dict[str, Any]:
    document = _valid()
    for dotted, value in change.items():
        node = document
        *parents, last = dotted.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_with({"format": "other"}), "format: expected 'pv-monitor/register-image', got 'other'"),
        (_with({"version": 2}), "version: 2 is newer than this collector reads (1)"),
        (_with({"device.colour": "red"}), "device.colour: unknown field"),
        ({**_valid(), "device": {}}, "device.profile: missing (required)"),
        (_with({"source.kind": "guess"}), "source.kind: 'guess' is not one of device, document, simulator"),
        (
            _with({"holding.0.values": [1, 70000]}),
            "holding[0].values[1] (register 101): 70000 is outside 0..65535",
        ),
        (
            _with({"holding": [{"start": 100, "values": [1, 2]}, {"start": 101, "values": [3]}]}),
            "holding[1]: register 101 is also in holding[0]",
        ),
        (_with({"holding.0.start": 65535}), "holding[0]: 5 registers from 65535 run past 65535"),
        (_with({"refused.0.exception": 300}), "refused[0].exception: 300 is outside 1..255"),
        (
            _with({"not_implemented": [{"function": "input", "start": 10, "count": 2}]}),
            "not_implemented[0]: input registers 10+2 are not all in the image",
        ),
        (
            _with({"holding": [], "input": []}),
            "the image holds no registers (holding and input are both empty)",
        ),
        ([1, 2], "expected an object, got a list"),
    ],
)
def test_a_bad_image_is_one_line_naming_the_file_and_the_problem(
    tmp_path: Path, document: Any, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ImageError) as caught:
        load_image(path)
    assert str(caught.value) == f"{path}: {message}"


def test_not_json_and_missing_files_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"format": ', encoding="utf-8")
    with pytest.raises(ImageError, match=r"broken.json: not valid JSON \(line 1, column 12\)"):
        load_image(path)
    with pytest.raises(ImageError, match=r"nothing\.json: no such register image file"):
        load_image(tmp_path / "nothing.json")
    with pytest.raises(RegisterError, match=r"register 100: 65536 is not 0\.\.65535"):
        small_image().put(Function.HOLDING, 100, [65536])


def test_decode_prints_the_values_and_refuses_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["decode", "--image", str(FIXTURES / "sdm630" / "eastron_manual_float_example.json")]) == 0
    assert json.loads(capsys.readouterr().out) == {"voltage_l1": 240.5}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_with({"version": 0})), encoding="utf-8")
    assert main(["decode", "--image", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == f"decode: {bad}: version: expected a positive integer, got 0\n"


# ------------------------------------------------------------------------------------------ replay


async def listening(client: AsyncModbusTcpClient, ended: Callable[[], bool]) -> None:
    """Connect `client` as soon as its server listens (fail if the server ends first or takes 10 s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not await client.connect():
        assert not ended(), "the replay ended"
        assert loop.time() < deadline, "the replay did not listen"


@contextlib.asynccontextmanager
async def replaying(images: Sequence[ImageArgument], *, serial: str | None = None) -> AsyncIterator[int]:
    port = free_port()
    task = asyncio.create_task(run_replay(images, "127.0.0.1", port, serial=serial))
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.5, retries=0)
    try:
        await listening(client, task.done)
        yield port
    finally:
        client.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_an_image_answers_as_the_device_did(tmp_path: Path) -> None:
    path = tmp_path / "device.json"
    small_image().save(path)
    async with replaying([ImageArgument(path), ImageArgument(METER_IMAGE, 2)]) as port:
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.5, retries=0)
        await client.connect()
        try:
            reply = await client.read_holding_registers(100, count=5, device_id=5)  # the image's own unit
            assert reply.registers == [1, 2, 3, 4, 5]
            assert (await client.read_input_registers(0, count=2, device_id=5)).registers == [0x4370, 0x8000]
            refused = await client.read_holding_registers(199, count=3, device_id=5)
            assert refused.exception_code == 4  # as recorded
            absent = await client.read_holding_registers(104, count=2, device_id=5)
            assert absent.exception_code == 2  # 105 is not in the image
            unknown_unit = await client.read_holding_registers(100, count=1, device_id=9)
            assert unknown_unit.exception_code == 0x0B
            meter = await client.read_input_registers(0, count=2, device_id=2)
            assert meter.registers == load_image(METER_IMAGE).words(Function.INPUT, 0, 2)
            with pytest.raises(ModbusIOException):  # recorded as never answered
                await client.read_holding_registers(300, count=1, device_id=5)
        finally:
            client.close()


async def test_a_replayed_image_changes_when_its_file_does(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "device.json"
    image = small_image()
    image.save(path)
    async with replaying([ImageArgument(path, 1)]) as port:
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.5, retries=0)
        await client.connect()
        try:
            image.put(Function.HOLDING, 100, [42])
            image.save(path)  # replaced atomically
            assert (await client.read_holding_registers(100, count=2, device_id=1)).registers == [42, 2]
            path.write_text("{not json", encoding="utf-8")
            assert (await client.read_holding_registers(100, count=1, device_id=1)).registers == [42]
            assert "still serving the last good one" in caplog.text
            assert (await client.write_register(101, 7, device_id=1)).isError() is False
            assert (await client.read_holding_registers(101, count=1, device_id=1)).registers == [7]
            assert (await client.write_register(150, 7, device_id=1)).exception_code == 2
        finally:
            client.close()


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`simulate` and `record` configure logging (onto the captured stderr); put it back afterwards."""
    root, pymodbus = logging.getLogger(), logging.getLogger("pymodbus")
    handlers, level, pymodbus_level = list(root.handlers), root.level, pymodbus.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    pymodbus.setLevel(pymodbus_level)


def test_two_images_on_one_unit_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", "--image", f"{METER_IMAGE}@2", "--image", f"{METER_IMAGE}@2", "--port", "0"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("simulate: ")
    assert "would both answer on unit 2" in err
    assert err.count("\n") == 1
    assert main(["simulate", "--image", str(tmp_path / "none.json"), "--port", "0"]) == 2
    assert capsys.readouterr().err == f"simulate: {tmp_path / 'none.json'}: no such register image file\n"


async def test_an_image_over_rtu_through_a_pseudo_terminal(pty_pair: tuple[str, str]) -> None:
    async with replaying([ImageArgument(METER_IMAGE, 2)], serial=pty_pair[0]):
        client = AsyncModbusSerialClient(pty_pair[1], baudrate=9600, timeout=0.5, retries=1)
        try:
            assert await client.connect()
            reply = await client.read_input_registers(0, count=42, device_id=2)
            assert reply.registers == load_image(METER_IMAGE).words(Function.INPUT, 0, 42)
            refused = await client.read_input_registers(42, count=2, device_id=2)
            assert refused.exception_code == 2
        finally:
            client.close()


# ------------------------------------------------------------------------------------------ record


def record_config(tmp_path: Path, bus: dict[str, Any], devices: list[dict[str, Any]]) -> Path:
    config = {
        "collector": {"id": "rec"},
        "data_dir": str(tmp_path / "data"),
        "buses": [{"name": "line", "timeout": 0.5, "retries": 0, **bus, "devices": devices}],
    }
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return path


async def record(*argv: str) -> int:
    return await asyncio.to_thread(main, ["record", *argv])


async def decoded(path: Path) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        from io import StringIO

        out = StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["decode", "--image", str(path)]) == 0
        return dict(json.loads(out.getvalue()))

    return await asyncio.to_thread(run)


async def test_record_a_simulated_device_replay_it_and_get_the_same_values(tmp_path: Path) -> None:
    """The worked example of docs/profiles.md: record, replay, record the replay, compare."""
    simulation = Simulation(clock=lambda: FIXED_TIME)
    port = await simulation.start("127.0.0.1", 0)
    devices = [
        {"id": "inverter", "unit_id": 1, "profile": "sunspec"},
        {"id": "meter", "unit_id": 2, "profile": "sdm630"},
    ]
    try:
        config = record_config(tmp_path, {"type": "tcp", "host": "127.0.0.1", "port": port}, devices)
        for device in ("inverter", "meter"):
            out = tmp_path / f"{device}.json"
            assert await record("--config", str(config), "--device", device, "--out", str(out)) == 0
    finally:
        await simulation.stop()
    inverter = load_image(tmp_path / "inverter.json")
    assert inverter.identity.model == "SIM-5000"
    assert inverter.words(Function.HOLDING, 40000, 2) == [0x5375, 0x6E53]  # the whole chain from "SunS"
    _start, words = inverter.runs(Function.HOLDING)[-1]
    assert words[-2:] == [0xFFFF, 0]  # ... to the end marker
    meter_values = await decoded(tmp_path / "meter.json")
    assert meter_values["power"] == pytest.approx(simulation.meter_power_w, abs=0.01)

    images = [ImageArgument(tmp_path / "inverter.json"), ImageArgument(tmp_path / "meter.json")]
    async with replaying(images) as replay_port:
        config = record_config(tmp_path, {"type": "tcp", "host": "127.0.0.1", "port": replay_port}, devices)
        for device in ("inverter", "meter"):
            out = tmp_path / f"{device}-2.json"
            assert await record("--config", str(config), "--device", device, "--out", str(out)) == 0
    for device in ("inverter", "meter"):
        first, second = load_image(tmp_path / f"{device}.json"), load_image(tmp_path / f"{device}-2.json")
        assert first.tables == second.tables
        assert await decoded(tmp_path / f"{device}.json") == await decoded(tmp_path / f"{device}-2.json")


async def test_record_whole_ranges_and_the_registers_a_device_refuses(tmp_path: Path) -> None:
    simulation = Simulation(clock=lambda: FIXED_TIME)
    port = await simulation.start("127.0.0.1", 0)
    frequency = simulation.image(METER_UNIT).point("frequency")
    simulation.refuse_register(METER_UNIT, "input", frequency.address)
    out = tmp_path / "meter.json"
    try:
        config = record_config(
            tmp_path,
            {"type": "tcp", "host": "127.0.0.1", "port": port},
            [{"id": "meter", "unit_id": 2, "profile": "sdm630"}],
        )
        extra = ("--range", "input:0x100+16")
        assert await record("--config", str(config), "--device", "meter", "--out", str(out), *extra) == 0
    finally:
        await simulation.stop()
    image = load_image(out)
    assert image.refused == [Refusal(Function.INPUT, frequency.address, 2, 2)]  # the point, not its block
    assert image.has(Function.INPUT, 0x100, 16)  # the extra range, between the profile's points
    values = await decoded(out)
    assert "frequency" not in values
    assert values["voltage_l1"] == pytest.approx(simulation.image(METER_UNIT).get("voltage_l1"), abs=0.001)


async def test_record_and_replay_over_rtu(tmp_path: Path, pty_pair: tuple[str, str]) -> None:
    """`simulate --image` as its own process serving a pseudo-terminal, `record` reading it as RTU."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pv_collector", "simulate", "--image", f"{METER_IMAGE}@2",
        "--port", str(port), "--serial", pty_pair[0], "--log-level", "warning",
    )  # fmt: skip
    out = tmp_path / "meter.json"
    try:
        probe = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.5, retries=0)
        await listening(probe, lambda: process.returncode is not None)  # RTU is served before TCP
        probe.close()
        config = record_config(
            tmp_path,
            {"type": "serial", "serial_port": pty_pair[1], "baudrate": 9600, "timeout": 1.0, "retries": 2},
            [{"id": "meter", "unit_id": 2, "profile": "sdm630"}],
        )
        assert await record("--config", str(config), "--device", "meter", "--out", str(out)) == 0
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 10)
    assert process.returncode == 0
    original, recorded_image = load_image(METER_IMAGE), load_image(out)
    # the profile's first block (voltages, currents, phase powers) as the image holds it
    assert recorded_image.words(Function.INPUT, 0, 18) == original.words(Function.INPUT, 0, 18)
    # the points the published frame does not have are recorded as refused, with the answer they got
    frequency = recorded_image.refusal(Function.INPUT, 0x46, 2)
    assert frequency is not None
    assert frequency.exception == 2


def test_record_names_a_device_it_does_not_know(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = record_config(tmp_path, {"type": "tcp", "host": "127.0.0.1", "port": 1}, [
        {"id": "meter", "unit_id": 2, "profile": "sdm630"}
    ])  # fmt: skip
    out = str(tmp_path / "x.json")
    assert main(["record", "--config", str(config), "--device", "nope", "--out", out]) == 2
    assert capsys.readouterr().err == f"record: no device 'nope' in {config} (devices: meter)\n"
    assert main(["record", "--config", str(config), "--device", "meter", "--out", out]) == 1
    err = capsys.readouterr().err
    assert err.startswith("record: device meter (unit 2 on bus line, 127.0.0.1:1): ")
    assert err.count("\n") == 1
    assert not (tmp_path / "x.json").exists()


def test_parse_image_rejects_what_load_image_rejects() -> None:
    with pytest.raises(ImageError, match="format"):
        parse_image({"format": "x", "version": 1, "device": {"profile": "p"}, "source": {}})


async def test_record_fails_clearly_when_no_read_is_answered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with replaying([ImageArgument(METER_IMAGE, 2)]) as port:
        config = record_config(
            tmp_path,
            {"type": "tcp", "host": "127.0.0.1", "port": port},
            [{"id": "meter", "unit_id": 3, "profile": "sdm630"}],  # nobody answers on unit 3 (0x0B)
        )
        out = tmp_path / "meter.json"
        assert await record("--config", str(config), "--device", "meter", "--out", str(out)) == 1
    err = capsys.readouterr().err
    where = f"device meter (unit 3 on bus line, 127.0.0.1:{port})"
    assert err.startswith(f"record: {where}: the device answers no read (input 0+18, input 0+2 unanswered): ")
    assert err.count("\n") == 1
    assert not out.exists()


# ------------------------------------------------------------------------------------------ record: silence


@contextlib.asynccontextmanager
async def never_answering() -> AsyncIterator[tuple[int, list[tuple[int, int, int]]]]:
    """A TCP port that takes Modbus TCP requests and never answers; yields the port and the requests it
    got, as (function code, address, count)."""
    asked: list[tuple[int, int, int]] = []

    async def take(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                header = await reader.readexactly(7)  # MBAP: transaction, protocol, length, unit
                pdu = await reader.readexactly(int.from_bytes(header[4:6]) - 1)
                asked.append((pdu[0], int.from_bytes(pdu[1:3]), int.from_bytes(pdu[3:5])))
        writer.close()

    server = await asyncio.start_server(take, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], asked
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("profile", "expected", "hint"),
    [
        # the first block of the read plan, then its first point alone; the profile documents unit 1
        ("sdm630", [(4, 0, 18), (4, 0, 2)], "; the vendor's default unit id is 1 (this device: 2)"),
        ("sunspec", [(3, 40000, 2)], ""),  # the "SunS" marker at the first base
    ],
)
async def test_record_stops_at_once_when_nothing_answers(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    profile: str,
    expected: list[tuple[int, int, int]],
    hint: str,
) -> None:
    """Not the whole plan point by point, each read waiting its timeout: two reads, one line to act on."""
    async with never_answering() as (port, asked):
        config = record_config(
            tmp_path,
            {"type": "tcp", "host": "127.0.0.1", "port": port, "timeout": 0.2},
            [{"id": "meter", "unit_id": 2, "profile": profile}],
        )
        out = tmp_path / "meter.json"
        assert await record("--config", str(config), "--device", "meter", "--out", str(out)) == 1
    assert asked == expected
    unanswered = ", ".join(f"{'input' if code == 4 else 'holding'} {a}+{n}" for code, a, n in expected)
    assert capsys.readouterr().err == (
        f"record: device meter (unit 2 on bus line, 127.0.0.1:{port}): the device answers no read "
        f"({unanswered} unanswered): check that it is on, its unit id (2), and that its Modbus TCP server "
        f"is enabled{hint} (pv-collector identify --config {config} --bus line lists what answers)\n"
    )
    assert not out.exists()


async def test_record_names_the_line_to_check_when_a_serial_device_is_silent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pty_pair: tuple[str, str]
) -> None:
    simulation = Simulation(clock=lambda: FIXED_TIME)
    await simulation.start_rtu(pty_pair[0], baudrate=9600)
    simulation.set_offline(METER_UNIT, True)
    try:
        config = record_config(
            tmp_path,
            {"type": "serial", "serial_port": pty_pair[1], "baudrate": 9600, "timeout": 0.2},
            [{"id": "meter", "unit_id": METER_UNIT, "profile": "sdm630"}],
        )
        out = tmp_path / "meter.json"
        assert await record("--config", str(config), "--device", "meter", "--out", str(out)) == 1
    finally:
        await simulation.stop()
    assert simulation.requests[METER_UNIT] == 2
    err = capsys.readouterr().err
    assert f"(unit {METER_UNIT} on bus line, {pty_pair[1]}): the device answers no read" in err
    assert (
        f"its unit id ({METER_UNIT}), the RS-485 wiring (A/B, termination) and the line settings (9600 8N1)"
        in err
    )
    assert err.count("\n") == 1


async def test_record_keeps_a_block_that_answers_only_in_part(tmp_path: Path) -> None:
    """A device silent on some registers of its first block is still recorded, as before: the block is split
    once a single point of it was answered, and the silent point is recorded as unanswered."""
    image = load_image(METER_IMAGE)
    image.refused.append(Refusal(Function.INPUT, 2, 2, None))  # voltage_l2: never answered
    path = tmp_path / "partly.json"
    image.save(path)
    async with replaying([ImageArgument(path, 2)]) as port:
        config = record_config(
            tmp_path,
            {"type": "tcp", "host": "127.0.0.1", "port": port, "timeout": 0.2},
            [{"id": "meter", "unit_id": 2, "profile": "sdm630"}],
        )
        out = tmp_path / "meter.json"
        assert await record("--config", str(config), "--device", "meter", "--out", str(out)) == 0
    recorded = load_image(out)
    assert recorded.refusal(Function.INPUT, 2, 2) == Refusal(Function.INPUT, 2, 2, None)
    assert recorded.words(Function.INPUT, 0, 2) == image.words(Function.INPUT, 0, 2)
    assert recorded.words(Function.INPUT, 4, 14) == image.words(Function.INPUT, 4, 14)
