"""The collector's own page in Debian's chromium: a running collector (its own process) polling the simulated
devices over Modbus TCP, a real Mosquitto, and the page opened directly and through Home Assistant's ingress.

Checks go through what a user sees (the page's text and elements) and the Modbus wire (the simulator's
registers, read by a second client). Set PV_UPDATE_SCREENSHOTS=1 to copy the screenshots into docs/.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from scripts.e2e.browser import browser
from scripts.e2e.processes import ManagedProcess, free_port, wait_until
from scripts.e2e.stack import VENV_BIN, noon_longitude
from tests.e2e.ingress import IngressChain
from tests.mosquitto import Mosquitto

from .modbus_probe import ModbusProbe, Sampler

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
DEVICES = {  # the simulated devices (pv-collector simulate) and one unit id where nothing answers
    "inverter": ("Inverter", 1, "sunspec", "online"),
    "grid_meter": ("Grid meter", 2, "sdm630", "online"),
    "battery": ("Battery", 3, "pv_sim_battery", "online"),
    "weather": ("Weather station", 4, "pv_sim_environment", "online"),
    "heat_pump": ("Heat pump meter", 9, "sdm120", "offline"),
}
SILENT = {"heat_pump"}  # on a bus (a connection) of its own, so its timeouts delay nobody else
WAIT_MS = 30_000


@dataclass
class Site:
    """Everything the page tests run against."""

    workdir: Path
    web_port: int
    modbus_port: int
    processes: dict[str, ManagedProcess]
    ingress: IngressChain

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.web_port}/"

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{p.log_tail(3000)}" for name, p in self.processes.items())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp("page")
    broker = Mosquitto(workdir / "mosquitto")
    modbus_port, web_port = free_port(), free_port()
    longitude = noon_longitude(time.time())  # the simulated sun is up: the inverter's values move
    config = {
        "collector": {"id": "page", "name": "Page test PV"},
        "data_dir": str(workdir / "data"),
        "log_level": "info",
        "metrics": {"enabled": False},
        "mqtt": {"host": HOST, "port": broker.port},
        "site": {"latitude": 35.0, "longitude": longitude},
        "web": {"enabled": True, "host": HOST, "port": web_port},
        "buses": [
            {
                "name": name,
                "type": "tcp",
                "host": HOST,
                "port": modbus_port,
                "timeout": 1.0,
                "retries": 1,
                "devices": [
                    {"id": device_id, "name": device, "unit_id": unit, "profile": profile, "poll_interval": 1}
                    for device_id, (device, unit, profile, _availability) in DEVICES.items()
                    if (device_id in SILENT) == silent
                ],
            }
            for name, silent in (("simulator", False), ("annex", True))
        ],
    }
    (workdir / "collector.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    processes = {
        "simulator": ManagedProcess(
            "simulator",
            [
                str(VENV_BIN / "pv-collector"),
                "simulate",
                "--host",
                HOST,
                "--port",
                str(modbus_port),
                "--latitude",
                "35",
                "--longitude",
                f"{longitude:.3f}",
            ],
            workdir / "simulator.log",
        ),
        "collector": ManagedProcess(
            "collector",
            [str(VENV_BIN / "pv-collector"), "run", "--config", str(workdir / "collector.yaml")],
            workdir / "collector.log",
        ),
    }
    broker.start()
    try:
        processes["simulator"].start()
        processes["simulator"].wait_for_port(HOST, modbus_port, 30)
        processes["collector"].start()
        processes["collector"].wait_for_port(HOST, web_port, 30)
        with IngressChain(web_port) as ingress:
            yield Site(workdir, web_port, modbus_port, processes, ingress)
    finally:
        for process in reversed(processes.values()):
            process.stop()
        broker.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as instance:
        yield instance


@pytest.fixture
def page(chromium: Browser, site: Site) -> Iterator[Page]:
    context = chromium.new_context(
        viewport={"width": 1400, "height": 1000}, locale="en-GB", color_scheme="light"
    )
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.failed and "site" in getattr(item, "funcargs", {}):
        report.sections.append(("collector page stack logs", item.funcargs["site"].logs()))
    return report


def availability_of(page: Page, device_id: str) -> str | None:
    chip = page.locator(f'tr[data-device="{device_id}"] [data-availability]')
    return chip.get_attribute("data-availability") if chip.count() else None


def expect_overview(page: Page) -> None:
    """Every configured device is listed with the availability it really has, live."""
    expect(page.locator("#stream")).to_have_text("Live", timeout=WAIT_MS)
    for device_id, (name, unit, profile, availability) in DEVICES.items():
        row = page.locator(f'tr[data-device="{device_id}"]')
        expect(row).to_have_count(1, timeout=WAIT_MS)
        expect(row.get_by_role("link", name=name)).to_be_visible()
        expect(row).to_contain_text(f"unit {unit}")
        expect(row).to_contain_text(profile)
        expect(row.locator("[data-availability]")).to_have_attribute(
            "data-availability", availability, timeout=WAIT_MS
        )
    offline = page.locator('tr[data-device="heat_pump"]')
    expect(offline).to_contain_text("no answer")  # why it is offline, from the collector


# ------------------------------------------------------------------------------------------ tests


def test_overview_lists_every_device_with_its_availability(page: Page, site: Site) -> None:
    page.goto(site.url)
    expect_overview(page)
    expect(page.locator("#mqtt-connection")).to_have_text("Connected")
    bus = page.locator("section.card", has_text="Bus simulator")
    expect(bus).to_contain_text("Modbus TCP")
    expect(bus.locator("[data-utilisation]")).not_to_have_attribute("data-utilisation", "", timeout=WAIT_MS)
    utilisation = float(bus.locator("[data-utilisation]").get_attribute("data-utilisation") or "nan")
    assert 0 < utilisation < 1


def test_device_page_shows_live_values_that_change(page: Page, site: Site) -> None:
    page.goto(site.url)
    page.get_by_role("link", name="Inverter", exact=True).click()
    expect(page).to_have_url(re.compile(r"#/device/inverter$"))
    expect(page.locator("h2", has_text="Inverter")).to_be_visible()
    cell = page.locator('td[data-point="ac_power"]')
    expect(cell).to_have_text(re.compile(r"^[\d,.]+ W"), timeout=WAIT_MS)
    probe = ModbusProbe(HOST, site.modbus_port)
    try:
        with Sampler(probe.inverter_ac_power) as samples:  # the inverter's W and W_SF, read on the wire

            def shown_was_in_the_registers() -> bool:
                shown = float((cell.text_content() or "").split(" W")[0].replace(",", ""))
                return samples.seen(shown, tolerance=0.5)

            wait_until(
                shown_was_in_the_registers, 30, "the page's AC power to equal the inverter's registers", 0.3
            )
    finally:
        probe.close()
    values = page.locator("td[data-point]")
    before = values.all_text_contents()
    wait_until(
        lambda: values.all_text_contents() != before, 30, "a live value to change without a reload", 0.3
    )
    plan = page.locator("[data-card=plan]")
    expect(plan).to_contain_text(re.compile(r"\d+ requests per cycle"))
    expect(plan.locator(".tag", has_text=re.compile(r"^ac_power$"))).to_have_count(1)
    expect(page.locator("#record-card")).to_contain_text("Not available in this version")


def test_offline_device_page_says_why(page: Page, site: Site) -> None:
    page.goto(f"{site.url}#/device/heat_pump")
    expect(page.locator(".pagehead [data-availability]")).to_have_attribute("data-availability", "offline")
    expect(page.locator(".pagehead")).to_contain_text("no answer")
    events = page.locator("[data-card=events]")
    expect(events).to_contain_text("Now Offline", timeout=WAIT_MS)


def test_explorer_reads_a_range_and_shows_the_collectors_decoding(page: Page, site: Site) -> None:
    page.goto(f"{site.url}#/tools")
    form = page.locator("form#explorer")
    form.locator("select[name=target]").select_option("device:grid_meter")
    form.locator("select[name=function]").select_option("input")
    form.locator("input[name=address]").fill("0")
    form.locator("input[name=count]").fill("6")
    form.locator("select[name=type]").select_option("f32")
    form.get_by_role("button", name="Read").click()
    rows = page.locator("#explorer-result tr[data-address]")
    expect(rows).to_have_count(6, timeout=WAIT_MS)
    first = rows.nth(0)
    expect(first.locator(".tag")).to_have_text("voltage_l1")
    decoded = float(first.locator("td[data-decoded]").get_attribute("data-decoded") or "nan")
    collector = float((first.locator("td.value").text_content() or "").split(" V")[0].replace(",", ""))
    assert 150 < decoded < 300  # a grid voltage, read from the meter's registers as float32
    assert collector == pytest.approx(decoded, abs=0.01)  # the profile's decoding agrees
    expect(page.locator('[data-unavailable="identify"]')).to_have_text(
        "Not available in this version of the collector."
    )


def test_log_filters_by_device(page: Page, site: Site) -> None:
    page.goto(f"{site.url}#/log")
    page.locator("select[name=device]").select_option("heat_pump")
    rows = page.locator("#log-table tbody tr")
    expect(rows.first).to_contain_text("device lost", timeout=WAIT_MS)
    devices = {text.strip() for text in page.locator("#log-table tbody td.mono").all_text_contents()}
    assert devices == {"heat_pump"}


def test_page_behind_home_assistants_ingress_path(chromium: Browser, site: Site) -> None:
    """Through Home Assistant's real ingress view (and a Supervisor stand-in): the prefix stays in front of
    every URL, the event stream is live through both proxies, and the explorer works."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, locale="de-DE")
    tab = context.new_page()
    requests: list[str] = []
    tab.on("request", lambda request: requests.append(request.url))
    try:
        tab.goto(site.ingress.url)
        expect(tab.locator("#stream")).to_have_text("Live", timeout=WAIT_MS)  # German has the same word
        expect(tab.locator(".tabs a[data-tab=overview]")).to_have_text("Übersicht")
        for device_id, (*_rest, availability) in DEVICES.items():
            expect(tab.locator(f'tr[data-device="{device_id}"] [data-availability]')).to_have_attribute(
                "data-availability", availability, timeout=WAIT_MS
            )
        tab.get_by_role("link", name="Grid meter", exact=True).click()
        expect(tab.locator('td[data-point="voltage_l1"]')).to_have_text(
            re.compile(r"\d+[,.]\d+ V"), timeout=WAIT_MS
        )
        tab.locator(".tabs a[data-tab=tools]").click()
        form = tab.locator("form#explorer")
        form.locator("select[name=function]").select_option("input")
        form.locator("select[name=target]").select_option("device:grid_meter")
        form.locator("button[type=submit]").click()
        expect(tab.locator("#explorer-result tr[data-address]")).to_have_count(10, timeout=WAIT_MS)
        fonts = tab.evaluate(
            "() => [...document.fonts].filter(f => f.status === 'loaded').map(f => f.family)"
        )
    finally:
        context.close()
    prefix = site.ingress.url.rstrip("/")
    page_requests = [url for url in requests if "/static/fonts/" not in url]
    assert page_requests
    assert all(url.startswith(prefix) for url in page_requests), [
        u for u in page_requests if not u.startswith(prefix)
    ]
    assert f"{prefix}/api/events" in requests
    assert "Roboto" in fonts  # Home Assistant's own font, from Home Assistant


def test_screenshots(chromium: Browser, site: Site, tmp_path: Path) -> None:
    """The page at 1400 px and at phone width, light and dark (look at them before they go to docs/)."""
    shots = {
        "screenshot-collector-page.png": ({"width": 1400, "height": 1000}, "light", "#/", True),
        "screenshot-collector-device.png": (
            {"width": 1400, "height": 1000},
            "dark",
            "#/device/inverter",
            False,
        ),
        "screenshot-collector-tools.png": ({"width": 1400, "height": 900}, "light", "#/tools", False),
        "screenshot-collector-phone.png": ({"width": 390, "height": 844}, "dark", "#/", False),
    }
    taken = []
    for name, (viewport, scheme, route, full) in shots.items():
        context = chromium.new_context(
            viewport=viewport,
            locale="en-GB",
            color_scheme=scheme,
            reduced_motion="reduce",
            device_scale_factor=1,
        )
        tab = context.new_page()
        try:
            tab.goto(f"{site.ingress.url}{route}")
            expect(tab.locator("#stream")).to_have_text("Live", timeout=WAIT_MS)
            if route == "#/":
                expect(tab.locator('tr[data-device="heat_pump"] [data-availability]')).to_have_attribute(
                    "data-availability", "offline", timeout=WAIT_MS
                )
                for measured in tab.locator("[data-utilisation]").all():
                    expect(measured).not_to_have_attribute("data-utilisation", "", timeout=WAIT_MS)
            elif route.startswith("#/device/"):
                expect(tab.locator('td[data-point="ac_power"]')).to_have_text(
                    re.compile(r"W"), timeout=WAIT_MS
                )
            else:
                form = tab.locator("form#explorer")
                form.locator("select[name=target]").select_option("device:grid_meter")
                form.locator("select[name=function]").select_option("input")
                form.locator("input[name=count]").fill("12")
                form.locator("select[name=type]").select_option("f32")
                form.locator("button[type=submit]").click()
                expect(tab.locator("#explorer-result tr[data-address]")).to_have_count(12, timeout=WAIT_MS)
            path = tmp_path / name
            tab.screenshot(path=path, full_page=full)
            taken.append(path)
        finally:
            context.close()
    for path in taken:
        assert path.read_bytes().startswith(b"\x89PNG")
        assert path.stat().st_size > 10_000, f"{path} looks empty"
    if os.environ.get("PV_UPDATE_SCREENSHOTS") == "1":
        for path in taken:
            shutil.copyfile(path, ROOT / "docs" / path.name)
