"""The collector's web page, through its HTTP endpoints, against a running collector, real Mosquitto and the
simulated devices over Modbus TCP (aiohttp's test client; the browser: tests/e2e/test_collector_page.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from pv_collector.app import Collector
from pv_collector.config import WebConfig, validate_config
from pv_collector.decode import decode
from pv_collector.errors import CollectorError, ConfigError
from pv_collector.messages import EventMessage
from pv_collector.profile import load_profile
from pv_collector.profile.schema import INFO_FIELDS
from pv_collector.recording import decode_image
from pv_collector.register_image import SourceKind, parse_image
from pv_collector.simulator import Simulation
from pv_collector.transport import Bus
from pv_collector.web import DeviceTools, build_app
from pv_collector.web.tools import Identification, record_device
from tests.collector.conftest import (
    BATTERY,
    ENVIRONMENT,
    INVERTER,
    METER,
    SIM_DEVICES,
    Recorder,
    collector_config,
    running,
)
from tests.helpers import eventually
from tests.mosquitto import Mosquitto, free_port

BASE = "pv_monitor/test"
TOKEN = "s3cret-token-of-the-page"
MINIMAL_BUSES = [
    {"name": "b", "type": "tcp", "host": "h", "devices": [{"id": "d", "unit_id": 1, "profile": "sdm630"}]}
]


@contextlib.asynccontextmanager
async def page(
    collector: Collector, web: WebConfig | None = None, tools: DeviceTools | None = None
) -> AsyncIterator[TestClient[Any, Any]]:
    """An HTTP client of the collector's page (served in this event loop on 127.0.0.1)."""
    app = build_app(collector, web or WebConfig(enabled=True), tools)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


@pytest.fixture
async def collector(
    broker: Mosquitto, simulation: tuple[Simulation, int], tmp_path: Path
) -> AsyncIterator[Collector]:
    """A collector polling the four simulated devices, every one answered once."""
    _sim, port = simulation
    async with running(collector_config(tmp_path / "data", broker.port, port)) as running_collector:
        await eventually(
            lambda: all(p.availability == "online" for p in running_collector.pollers.values()),
            what="every device online",
        )
        yield running_collector


async def status_of(client: TestClient[Any, Any]) -> dict[str, Any]:
    response = await client.get("/api/status")
    assert response.status == 200
    return dict(await response.json())


def devices_of(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {device["id"]: device for bus in status["buses"] for device in bus["devices"]}


# ------------------------------------------------------------------------------------------ overview, device


async def test_status_lists_every_bus_and_device_with_its_figures(collector: Collector) -> None:
    async with page(collector) as client:

        def settled() -> bool:  # every device had a cycle with its final plan (the first may bisect)
            cycles = {p.id: collector.metrics.last_cycle(p.id) for p in collector.pollers.values()}
            return all(
                c is not None and c.requests == len(collector.pollers[d].plan) for d, c in cycles.items()
            )

        await eventually(settled, what="a cycle of every device with its read plan")
        status = await status_of(client)

    assert status["id"] == "test"
    assert status["mqtt"]["connected"] is True
    assert status["mqtt"]["broker"] == f"127.0.0.1:{collector.config.mqtt.port}"
    assert status["features"] == {"record": True, "identify": True}
    [bus] = status["buses"]
    assert bus["name"] == "sim"
    assert bus["type"] == "tcp"
    assert bus["connected"] is True
    assert bus["requests"]["ok"] > 0
    devices = devices_of(status)
    assert sorted(devices) == sorted(d["id"] for d in SIM_DEVICES)
    for device_id, device in devices.items():
        poller = collector.pollers[device_id]
        assert device["availability"] == "online"
        assert device["reason"] is None
        assert device["poll_interval"] == poller.device.poll_interval
        assert device["requests_per_cycle"] == len(poller.plan)
        assert device["last_poll"] is not None
        # The bus time of a cycle: its requests at the device's smoothed response time (the one the adaptive
        # timeout uses), against the poll interval.
        assert device["response_time"] > 0  # measured (no bound on how long a loaded machine takes)
        assert device["bus_seconds_per_cycle"] == pytest.approx(
            device["requests_per_cycle"] * device["response_time"], rel=1e-3, abs=1e-5
        )
        assert device["interval_share"] == pytest.approx(
            device["bus_seconds_per_cycle"] / 0.2, rel=1e-3, abs=1e-5
        )
        first = poller.plan[0]  # where the page's register explorer starts for the device
        assert device["first_block"] == {
            "function": first.function.value,
            "address": first.address,
            "count": first.count,
        }


async def test_bus_utilisation_is_measured_from_the_time_spent_in_requests(collector: Collector) -> None:
    """None at the first look; then the busy share between two looks, from what the bus reported."""
    clock = [1000.0]
    async with page(collector) as client:
        context = next(iter(client.app.values()))  # the page's context (one app key)
        context.view._monotonic = lambda: clock[0]
        first = await status_of(client)
        busy_before = collector.metrics.bus_load("sim").busy_seconds
        clock[0] += 10.0
        collector.metrics.request("sim", 2.5, "ok")  # as if the bus had been busy 2.5 s more
        second = await status_of(client)
        busy_after = collector.metrics.bus_load("sim").busy_seconds

    assert first["buses"][0]["utilisation"] is None
    assert second["buses"][0]["utilisation"] == pytest.approx((busy_after - busy_before) / 10.0, abs=1e-3)
    assert second["buses"][0]["utilisation"] >= 0.25


async def test_device_detail_has_values_with_units_plan_and_events(
    collector: Collector, simulation: tuple[Simulation, int]
) -> None:
    sim, _port = simulation
    async with page(collector) as client:
        response = await client.get("/api/devices/meter")
        detail = await response.json()
        missing = await client.get("/api/devices/nothing")
        refusal = await missing.json()

    assert response.status == 200
    assert detail["device"]["id"] == "meter"
    points = {point["key"]: point for point in detail["points"]}
    profile = {point.key: point for point in load_profile("sdm630").points}
    voltage = profile["voltage_l1"]
    assert points["voltage_l1"]["unit"] == "V"
    assert points["voltage_l1"]["value"] == pytest.approx(
        decode(voltage, sim.registers(METER, voltage.function, voltage.address, voltage.words))
    )
    assert points["voltage_l1"]["ts"] > 0
    planned = [
        (block.function.value, block.address, block.count) for block in collector.pollers["meter"].plan
    ]
    assert [(b["function"], b["address"], b["count"]) for b in detail["plan"]] == planned
    assert "voltage_l1" in {p["key"] for block in detail["plan"] for p in block["points"]}
    assert detail["quarantined"] == []
    assert detail["events"][0]["type"] == "availability"
    assert detail["events"][0]["availability"] == "online"
    assert missing.status == 404
    assert refusal["error"] == "unknown_device"


async def test_an_offline_device_shows_why_and_since_when_and_its_log_lines(
    collector: Collector, simulation: tuple[Simulation, int], caplog: pytest.LogCaptureFixture
) -> None:
    sim, _port = simulation
    caplog.set_level(logging.INFO, logger="pv_collector")
    async with page(collector) as client:
        logging.getLogger("pv_collector.test").warning("a line about no device")
        sim.set_offline(METER, True)
        await eventually(lambda: collector.pollers["meter"].availability == "offline", what="meter offline")
        device = devices_of(await status_of(client))["meter"]
        detail = await (await client.get("/api/devices/meter")).json()
        log = await (await client.get("/api/log", params={"device": "meter"})).json()
        everything = await (await client.get("/api/log")).json()

    assert device["availability"] == "offline"
    assert device["reason"] == "timeout"
    assert device["detail"]
    assert device["since"] <= collector.clock()
    assert detail["events"][0] == {
        "ts": device["since"],
        "type": "availability",
        "availability": "offline",
        "reason": "timeout",
        "message": device["detail"],
    }
    assert log["lines"], "the 'device lost' warning names the meter"
    assert {line["device"] for line in log["lines"]} == {"meter"}
    assert any(line["message"] == "device lost" and line["level"] == "warning" for line in log["lines"])
    assert "a line about no device" in [line["message"] for line in everything["lines"]]
    assert "a line about no device" not in [line["message"] for line in log["lines"]]


async def test_rejected_readings_are_recent_events_of_the_device(collector: Collector) -> None:
    event = EventMessage.point_rejected(1.0, "energy_import", error="counter_jump", message="x")
    async with page(collector) as client:
        collector.event("meter", event)  # what the poller hands the collector for a rejected reading
        detail = await (await client.get("/api/devices/meter")).json()

    assert detail["events"][0] == {
        "ts": 1.0,
        "type": "point_rejected",
        "point": "energy_import",
        "error": "counter_jump",
        "message": "x",
    }


# ------------------------------------------------------------------------------------------ live events


async def next_event(response: aiohttp.ClientResponse, kind: str, within: float = 10.0) -> dict[str, Any]:
    """The data of the next server-sent event of type `kind`."""
    async with asyncio.timeout(within):
        current = None
        while True:
            line = (await response.content.readline()).decode()
            if line.startswith("event: "):
                current = line[7:].strip()
            elif line.startswith("data: ") and current == kind:
                return dict(json.loads(line[6:]))


async def test_event_stream_sends_the_overview_then_states_as_they_are_read(
    collector: Collector, simulation: tuple[Simulation, int]
) -> None:
    sim, _port = simulation
    async with page(collector) as client:
        response = await client.get("/api/events")
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert "Content-Encoding" not in response.headers
        status = await next_event(response, "status")
        state = await next_event(response, "state")
        sim.set_offline(METER, True)
        availability = await next_event(response, "availability")
        after = await next_event(response, "status")  # sent at once with the change
        assert collector.activity.listeners == 1
        response.close()
        await eventually(lambda: collector.activity.listeners == 0, what="the stream to end")

    assert sorted(devices_of(status)) == sorted(d["id"] for d in SIM_DEVICES)
    assert state["device"] in collector.pollers
    assert state["v"]
    assert availability["device"] == "meter"
    assert availability["availability"] == "offline"
    assert devices_of(after)["meter"]["availability"] == "offline"


async def test_a_stream_that_falls_behind_is_told_to_resync(collector: Collector) -> None:
    async with page(collector) as client:
        response = await client.get("/api/events")
        await next_event(response, "status")
        [listener] = collector.activity._listeners
        for index in range(listener.queue.maxsize + 1):
            collector.activity.log(
                {"ts": index, "level": "debug", "logger": "x", "message": "m", "fields": {}}
            )
        assert listener.lagged
        await next_event(response, "resync")
        await next_event(response, "status")
        response.close()


# ------------------------------------------------------------------------------------------ explorer


async def test_explorer_reads_a_range_and_decodes_it_beside_the_profile(
    collector: Collector, simulation: tuple[Simulation, int]
) -> None:
    sim, _port = simulation
    voltage = next(p for p in load_profile("sdm630").points if p.key == "voltage_l1")
    body = {"device": "meter", "function": "input", "address": voltage.address, "count": 6, "type": "f32"}
    async with page(collector) as client:
        response = await client.post("/api/explorer", json=body)
        result = await response.json()

    assert response.status == 200
    assert result["ok"] is True
    registers = sim.registers(METER, "input", voltage.address, 6)
    assert result["registers"] == registers
    assert [v["address"] for v in result["values"]] == [
        voltage.address,
        voltage.address + 2,
        voltage.address + 4,
    ]
    assert result["values"][0]["value"] == pytest.approx(decode(voltage, registers[:2]), rel=1e-6)
    by_key = {point["key"]: point for point in result["points"]}
    assert by_key["voltage_l1"]["value"] == pytest.approx(decode(voltage, registers[:2]))
    assert by_key["voltage_l1"]["unit"] == "V"
    assert {"voltage_l2", "voltage_l3"} <= set(by_key)


async def test_the_explorer_starts_at_a_range_every_device_answers(collector: Collector) -> None:
    """The page fills the explorer with a device's `first_block` when the device is chosen: read as it is,
    it answers (a SunSpec inverter refuses address 0, where the explorer used to start)."""
    async with page(collector) as client:
        devices = devices_of(await status_of(client))
        results = {}
        for device_id, device in devices.items():
            body = {"device": device_id, **device["first_block"]}
            results[device_id] = await (await client.post("/api/explorer", json=body)).json()
        at_zero = {"device": "inverter", "function": "holding", "address": 0, "count": 10}
        inverter_at_zero = await (await client.post("/api/explorer", json=at_zero)).json()

    assert {device_id: result["ok"] for device_id, result in results.items()} == dict.fromkeys(devices, True)
    assert inverter_at_zero["ok"] is False
    assert inverter_at_zero["reason"] == "exception"


async def test_explorer_finds_a_unit_that_is_not_configured(
    collector: Collector, simulation: tuple[Simulation, int]
) -> None:
    """Any unit id on a bus can be read, e.g. to find a device; a unit that does not exist says so."""
    sim, _port = simulation
    body = {"bus": "sim", "unit_id": METER, "function": 4, "address": 0, "count": 2, "type": "u32"}
    async with page(collector) as client:
        found = await (await client.post("/api/explorer", json=body)).json()
        nobody = await (await client.post("/api/explorer", json={**body, "unit_id": 99})).json()

    assert found["ok"] is True
    assert found["registers"] == sim.registers(METER, "input", 0, 2)
    assert found["values"][0]["value"] == (found["registers"][0] << 16) | found["registers"][1]
    assert nobody["ok"] is False
    assert nobody["reason"] in ("exception", "timeout")


@pytest.fixture
async def meter_collector(
    broker: Mosquitto, simulation: tuple[Simulation, int], tmp_path: Path
) -> AsyncIterator[Collector]:
    """A collector polling the meter only: the other simulated units see nobody but the explorer."""
    _sim, port = simulation
    devices = [d for d in SIM_DEVICES if d["unit_id"] == METER]
    async with running(
        collector_config(tmp_path / "data", broker.port, port, devices=devices)
    ) as running_collector:
        yield running_collector


async def test_an_explorer_read_is_one_request_on_the_wire(
    meter_collector: Collector, simulation: tuple[Simulation, int]
) -> None:
    sim, _port = simulation
    body = {"bus": "sim", "unit_id": BATTERY, "function": "holding", "address": 0, "count": 2}
    async with page(meter_collector) as client:
        result = await (await client.post("/api/explorer", json=body)).json()

    assert sim.requests[BATTERY] == 1
    assert result["request"]["unit_id"] == BATTERY
    assert sum(sim.writes.values()) == 0


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"count": 0}, 400, "invalid_request"),
        ({"count": 126}, 400, "invalid_request"),
        ({"address": 65535, "count": 2}, 400, "invalid_request"),
        ({"address": -1}, 400, "invalid_request"),
        ({"type": "f16"}, 400, "invalid_request"),
        ({"word_order": "middle"}, 400, "invalid_request"),
        ({"function": 6}, 400, "write_refused"),
        ({"function": 16}, 400, "write_refused"),
        ({"function": "5"}, 400, "write_refused"),
        ({"function": "write_registers"}, 400, "write_refused"),
        ({"function": "coils"}, 400, "write_refused"),
        ({"function": 1}, 400, "invalid_request"),
        ({"device": "nothing"}, 404, "unknown_device"),
        ({"bus": "other"}, 404, "unknown_bus"),
        ({"unit_id": 256}, 400, "invalid_request"),
    ],
)
async def test_explorer_refuses_writes_and_out_of_bounds_requests_before_the_bus(
    meter_collector: Collector,
    simulation: tuple[Simulation, int],
    change: dict[str, Any],
    status: int,
    error: str,
) -> None:
    sim, _port = simulation
    body = {"bus": "sim", "unit_id": BATTERY, "function": "holding", "address": 0, "count": 2, **change}
    async with page(meter_collector) as client:
        response = await client.post("/api/explorer", json=body)
        result = await response.json()

    assert response.status == status
    assert result["error"] == error
    assert result["message"]
    assert sim.requests[BATTERY] == 0  # nothing reached the device
    assert sum(sim.writes.values()) == 0
    assert meter_collector.buses["sim"].writes == 0


async def test_nothing_but_reads_has_a_route(collector: Collector) -> None:
    async with page(collector) as client:
        put = await client.put("/api/explorer", json={"function": "holding"})
        delete = await client.delete("/api/devices/meter")
        form = await client.post("/api/explorer", data={"function": "holding"})
        cross_site = await client.post(
            "/api/explorer", json={"device": "meter"}, headers={"Sec-Fetch-Site": "cross-site"}
        )

    assert put.status == 405
    assert delete.status == 405
    assert form.status == 415
    assert cross_site.status == 403
    assert collector.buses["sim"].writes == 0


# ------------------------------------------------------------------------------------------ tools


async def test_identify_proposes_the_profile_of_a_unit_and_names_a_silent_one(collector: Collector) -> None:
    """The shipped tool: the simulator's meter (unit 2) answers the SDM630's meter code."""
    async with page(collector) as client:
        found = await client.post("/api/identify", json={"bus": "sim", "unit_id": METER})
        proposal = await found.json()
        silent = await client.post("/api/identify", json={"bus": "sim", "unit_id": 9})
        failure = await silent.json()

    assert found.status == 200
    assert proposal["device"] == {"id": f"meter_{METER}", "name": "Eastron SDM630", "unit_id": METER,
                                  "profile": "sdm630"}  # fmt: skip
    assert proposal["found"]["sure"] == "True"
    assert yaml.safe_load(proposal["yaml"]) == [proposal["device"]]
    assert silent.status == 502
    assert failure["error"] == "timeout"
    assert collector.buses["sim"].writes == 0


def page_strings() -> dict[str, dict[str, str]]:
    """The page's texts by language (static/i18n)."""
    i18n = Path(__file__).resolve().parents[2] / "addon/collector/pv_collector/web/static/i18n"
    return {lang: json.loads((i18n / f"{lang}.json").read_text(encoding="utf-8")) for lang in ("en", "de")}


async def test_what_identify_found_is_labelled_in_both_languages(collector: Collector) -> None:
    """The page shows each finding under a label of its own ("Serial number", not `serial`), for a SunSpec
    unit and a profile's unit alike, and every identity field a profile can read."""
    async with page(collector) as client:
        found: set[str] = set()
        for unit in (INVERTER, METER):
            response = await client.post("/api/identify", json={"bus": "sim", "unit_id": unit})
            assert response.status == 200
            found |= set((await response.json())["found"])

    assert {"unit_id", "profile", "sure", "sunspec_models", "serial"} <= found
    found |= set(INFO_FIELDS)  # every identity field a profile may declare
    for lang, strings in page_strings().items():
        assert [key for key in sorted(found) if f"identify.found.{key}" not in strings] == [], lang


async def test_a_refused_explorer_read_says_what_the_exception_means(collector: Collector) -> None:
    """Address 0 of a SunSpec inverter holds nothing: the page says so in words, in both languages, instead
    of repeating "Modbus exception 2"."""
    body = {"device": "inverter", "function": "holding", "address": 0, "count": 10, "type": "u16"}
    async with page(collector) as client:
        response = await client.post("/api/explorer", json=body)
        answer = await response.json()

    assert (answer["ok"], answer["reason"], answer["code"]) == (False, "exception", 2)
    for lang, strings in page_strings().items():
        meaning = strings.get("explorer.exception.2", "")
        assert meaning, lang
        assert "2" not in meaning, lang


async def test_the_tools_requests_are_no_errors_of_the_collector(
    broker: Mosquitto, recorder: Recorder, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    """Identify asks registers a device refuses by design; the explorer and the recorder read what the user
    asks. None of that is a fault of a device or the bus: the errors the collector publishes (the stats
    message, /metrics, the page) and the bus's failed requests stay where they were, while the tools' reads
    go through the bus. A poll that fails still counts."""
    sim, port = simulation
    devices = [SIM_DEVICES[METER - 1], SIM_DEVICES[BATTERY - 1]]
    config = collector_config(tmp_path / "data", broker.port, port, devices=devices)
    config["buses"][0]["devices"][1]["poll_interval"] = 3600  # the battery: read at start, then left alone

    async def published_errors(after: float) -> dict[str, int]:
        message = await recorder.wait(f"{BASE}/stats", lambda m: m.json()["ts"] >= after)
        return dict(message.json()["errors"])

    def failed_requests(collector: Collector) -> dict[str, int]:
        outcomes = collector.metrics.bus_load("sim").outcomes
        return {outcome: count for outcome, count in outcomes.items() if outcome != "ok"}

    async with running(config) as collector, page(collector) as client:
        await eventually(
            lambda: all(collector.metrics.last_cycle(p.id) for p in collector.pollers.values()),
            what="a cycle of both devices",
        )
        battery_block = collector.pollers["battery"].plan[0]
        sim.refuse_register(BATTERY, battery_block.function, battery_block.address)
        before = await published_errors(time.time())
        failed_before = failed_requests(collector)
        wire_before = collector.buses["sim"].requests

        identified = await client.post("/api/identify", json={"bus": "sim", "unit_id": METER})
        silent = await client.post("/api/identify", json={"bus": "sim", "unit_id": 9})
        body = {"device": "meter", "function": "holding", "address": 60000, "count": 2}
        refused = await (await client.post("/api/explorer", json=body)).json()
        recorded = await client.post("/api/devices/battery/record", json={})
        image = parse_image(json.loads(await recorded.text()))
        after = await published_errors(time.time())
        status = await status_of(client)
        prometheus = {
            kind: collector.metrics.registry.get_sample_value("pv_collector_errors_total", {"kind": kind})
            for kind in ("modbus_exception", "timeout", "invalid_reply", "connection")
        }
        failed_after = failed_requests(collector)
        tools_requests = collector.buses["sim"].requests - wire_before

        sim.set_exception(METER, 4)  # now the polls fail
        polled = await recorder.wait(
            f"{BASE}/stats",
            lambda m: m.json()["errors"].get("modbus_exception", 0) > before.get("modbus_exception", 0),
        )

    assert identified.status == 200
    assert silent.status == 502
    assert refused["ok"] is False
    assert refused["reason"] == "exception"
    assert recorded.status == 200
    assert image.refused  # the recording met the refused register
    assert tools_requests > 10  # the tools did talk to the devices, through the collector's bus
    assert after == before
    assert status["errors"] == before
    assert prometheus == {kind: before.get(kind) for kind in prometheus}
    assert failed_after == failed_before
    assert polled.json()["errors"]["modbus_exception"] > before.get("modbus_exception", 0)


async def test_a_version_without_identify_says_it_is_not_available(collector: Collector) -> None:
    async with page(collector, tools=DeviceTools(record=record_device)) as client:
        status = await status_of(client)
        identify = await client.post("/api/identify", json={"bus": "sim", "unit_id": 1})
        identified = await identify.json()

    assert status["features"]["identify"] is False
    assert identify.status == 501
    assert identified == {
        "error": "not_available",
        "feature": "identify",
        "message": "identify is not available in this version",
    }


async def test_record_downloads_a_register_image_of_the_device(
    collector: Collector, simulation: tuple[Simulation, int]
) -> None:
    """The image is what `pv-collector record` writes: valid, of the device's profile and unit, and it
    decodes to the device's values."""
    sim, _port = simulation
    async with page(collector) as client:
        response = await client.post("/api/devices/meter/record", json={})
        text = await response.text()
        disposition = response.headers["Content-Disposition"]

    assert response.status == 200
    assert re.fullmatch(r'attachment; filename="meter-\d{8}T\d{6}\.json"', disposition), disposition
    image = parse_image(json.loads(text))
    assert image.identity.profile == "sdm630"
    assert image.identity.unit_id == METER
    assert image.source.kind is SourceKind.DEVICE
    values = await decode_image(image, load_profile("sdm630"))
    voltage = next(p for p in load_profile("sdm630").points if p.key == "voltage_l1")
    assert values["voltage_l1"] == pytest.approx(
        decode(voltage, sim.registers(METER, voltage.function, voltage.address, voltage.words))
    )


async def test_recording_a_silent_device_is_one_clear_error(
    broker: Mosquitto, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    # Recording stops once the first block and a single point of it went unanswered (`DeviceSilent`, a
    # timeout); a short timeout without retries keeps those two waits short.
    sim, port = simulation
    config = collector_config(tmp_path / "data", broker.port, port, devices=[SIM_DEVICES[ENVIRONMENT - 1]])
    config["buses"][0].update(timeout=0.1, retries=0)
    sim.set_offline(ENVIRONMENT, True)
    async with running(config) as collector, page(collector) as client:
        response = await client.post("/api/devices/weather/record", json={})
        answer = await response.json()
        missing = await client.post("/api/devices/nothing/record", json={})

    assert response.status == 502
    assert answer["error"] == "timeout"
    assert answer["message"]
    assert missing.status == 404


async def test_identify_endpoint_hands_the_bus_and_unit_to_the_tool_and_returns_its_proposal(
    collector: Collector,
) -> None:
    """The interface an `identify` implementation plugs into (see pv_collector.web.tools)."""
    asked: list[tuple[str, int]] = []

    async def identify(bus: Bus, unit_id: int) -> Identification:
        asked.append((bus.name, unit_id))
        return Identification(
            device={"id": "meter_2", "unit_id": unit_id, "profile": "sdm630"},
            yaml="- {id: meter_2, unit_id: 2, profile: sdm630}\n",
            found={"model": "SDM630"},
        )

    async with page(collector, tools=DeviceTools(identify=identify)) as client:
        status = await status_of(client)
        found = await client.post("/api/identify", json={"bus": "sim", "unit_id": 2})
        proposal = await found.json()
        bad = await client.post("/api/identify", json={"bus": "sim", "unit_id": 300})

    assert status["features"]["identify"] is True
    assert found.status == 200
    assert proposal["device"]["profile"] == "sdm630"
    assert bad.status == 400
    assert asked == [("sim", 2)]


# ------------------------------------------------------------------------------------------ access


async def test_only_the_trusted_proxy_may_connect(collector: Collector) -> None:
    ingress = WebConfig(enabled=True, host="0.0.0.0", trusted_proxy="172.30.32.2")
    async with page(collector, ingress) as client:
        refused = await client.get("/api/status")
        refusal = await refused.json()
        refused_page = await client.get("/")
    async with page(collector, WebConfig(enabled=True, trusted_proxy="127.0.0.1")) as client:
        allowed = await client.get("/api/status")

    assert refused.status == 403
    assert refusal["error"] == "forbidden"
    assert refused_page.status == 403
    assert allowed.status == 200


async def test_a_token_is_needed_once_then_kept_in_a_cookie(collector: Collector) -> None:
    config = WebConfig(enabled=True, host="0.0.0.0", token=TOKEN)
    async with page(collector, config) as client:
        without = await client.get("/api/status")
        wrong = await client.get("/api/status", headers={"Authorization": "Bearer wrong-token-of-the-page"})
        bearer = await client.get("/api/status", headers={"Authorization": f"Bearer {TOKEN}"})
        first = await client.get("/", params={"token": TOKEN, "lang": "x"}, allow_redirects=False)
        cookie = first.cookies.get("pv_collector_token")
        later = await client.get("/api/status")  # the client keeps the cookie, as a browser does
        events = await client.get("/api/events")
        events.close()

    assert without.status == 401
    assert wrong.status == 401
    assert bearer.status == 200
    assert first.status == 302
    assert first.headers["Location"] == "/?lang=x"
    assert cookie is not None
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert later.status == 200
    assert events.status == 200


async def test_page_takes_the_ingress_path_as_its_base_and_the_browser_language(collector: Collector) -> None:
    async with page(collector) as client:
        ingress = await client.get(
            "/",
            headers={
                "X-Ingress-Path": "/api/hassio_ingress/Ab-12_x",
                "Accept-Language": "de-DE,de;q=0.9,en;q=0.8",
            },
        )
        direct = await client.get("/", headers={"Accept-Language": "fr, en;q=0.5"})
        hostile = await client.get("/", headers={"X-Ingress-Path": '"><script>alert(1)</script>'})
        script = await client.get("/static/app.js")
        german = await client.get("/static/i18n/de.json")
        text, direct_text, hostile_text = await ingress.text(), await direct.text(), await hostile.text()
        script_text, german_strings = await script.text(), await german.json()

    assert '<base href="/api/hassio_ingress/Ab-12_x/">' in text
    assert '<html lang="de" data-ingress="true">' in text
    assert '<base href="./">' in direct_text
    assert 'lang="en" data-ingress="false"' in direct_text
    assert "<script>alert" not in hostile_text
    assert "default-src 'self'" in ingress.headers["Content-Security-Policy"]
    assert ingress.headers["X-Content-Type-Options"] == "nosniff"
    # Every URL the page itself uses is relative, so the ingress prefix stays in front of it.
    assert not re.findall(r'(?:href|src)="/', re.sub(r"<base [^>]*>", "", text))
    assert script.status == 200
    assert not re.findall(r'(?:fetch|EventSource|post)\(\s*[`"]/', script_text)
    assert german_strings["tab.overview"] == "Übersicht"


def test_translations_have_the_same_keys_and_placeholders() -> None:
    static = Path(__file__).resolve().parents[2] / "addon/collector/pv_collector/web/static"
    english = json.loads((static / "i18n/en.json").read_text(encoding="utf-8"))
    german = json.loads((static / "i18n/de.json").read_text(encoding="utf-8"))
    script = (static / "app.js").read_text(encoding="utf-8")

    assert set(english) == set(german)
    for key, text in english.items():
        assert set(re.findall(r"{\w+}", text)) == set(re.findall(r"{\w+}", german[key])), key
    used = set(re.findall(r'\bt\("([\w.]+)"', script)) | set(
        re.findall(r'data-i18n="([\w.]+)"', (static / "index.html").read_text())
    )
    assert used <= set(english), used - set(english)


# ------------------------------------------------------------------------------------------ the server


async def test_collector_serves_the_page_when_enabled(
    broker: Mosquitto, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    _sim, port = simulation
    config = collector_config(tmp_path / "data", broker.port, port, web={"enabled": True, "port": 0})
    async with running(config) as collector:
        await eventually(lambda: collector.web is not None and collector.web.port, what="the page")
        assert collector.web is not None
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{collector.web.port}/") as response:
                html = await response.text()
            events = await session.get(f"http://127.0.0.1:{collector.web.port}/api/events")
            assert events.status == 200
    # The collector stopped with a stream still open: the stream was closed, not waited for.
    assert collector.web is None
    assert "static/app.js" in html
    events.close()


async def test_a_taken_port_is_one_line_naming_web_port(
    broker: Mosquitto, simulation: tuple[Simulation, int], tmp_path: Path
) -> None:
    _sim, port = simulation
    taken = free_port()
    config = collector_config(tmp_path / "data", broker.port, port, web={"enabled": True, "port": taken})
    server = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", taken)
    try:
        with pytest.raises(
            CollectorError, match=rf"^web\.port: cannot serve the page on 127\.0\.0\.1:{taken} \("
        ):
            await Collector(validate_config(config)).run()
    finally:
        server.close()
        await server.wait_closed()


def test_page_is_off_by_default_and_bound_to_loopback() -> None:
    config = validate_config({"collector": {"id": "x"}, "buses": MINIMAL_BUSES})
    assert config.web == WebConfig()
    assert config.web.enabled is False
    assert config.web.host == "127.0.0.1"
    assert config.web.token is None


@pytest.mark.parametrize(
    ("web", "message"),
    [
        (
            {"enabled": True, "host": "0.0.0.0"},
            "web.token: required when web.host (0.0.0.0) is not a loopback",
        ),
        ({"token": "short"}, "web.token: (secret) is not a valid value (expected a text of at least 16"),
        (
            {"trusted_proxy": "supervisor"},
            "web.trusted_proxy: 'supervisor' is not a valid value (expected an IP",
        ),
        ({"port": 70000}, "web.port: 70000 is not a valid value (expected 0..65535)"),
        ({"enabled": "yes"}, "web.enabled: 'yes' is not a valid value (expected true or false)"),
        ({"tokn": TOKEN}, "web.tokn: unknown option (did you mean 'token'?)"),
    ],
)
def test_web_options_are_validated_like_the_rest(web: dict[str, Any], message: str) -> None:
    data = {
        "collector": {"id": "x"},
        "buses": MINIMAL_BUSES,
        "web": web,
    }
    with pytest.raises(ConfigError) as raised:
        validate_config(data)
    assert [line for line in raised.value.messages if line.startswith(message)], raised.value.messages
    assert TOKEN not in str(raised.value)


@pytest.mark.parametrize(
    "web",
    [
        {"enabled": True, "host": "0.0.0.0", "token": TOKEN},
        {"enabled": True, "host": "0.0.0.0", "trusted_proxy": "172.30.32.2"},
        {"enabled": True, "host": "::1"},
        {"enabled": False, "host": "0.0.0.0"},
    ],
)
def test_web_options_that_keep_the_page_private_are_accepted(web: dict[str, Any]) -> None:
    data = {
        "collector": {"id": "x"},
        "buses": MINIMAL_BUSES,
        "web": web,
    }
    assert validate_config(data).web.host == web["host"]


def test_an_availability_event_reads_as_a_sentence_in_both_languages() -> None:
    """A device's availability in the event list says what happened ("Back online", "Went offline"), not the
    state after a word ("Now Online", as a newcomer read it)."""
    for lang, strings in page_strings().items():
        for availability in ("online", "offline", "asleep"):
            sentence = strings.get(f"event.availability.{availability}", "")
            assert sentence, (lang, availability)
            assert sentence != strings[f"availability.{availability}"], (lang, availability)
