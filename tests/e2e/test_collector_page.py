"""The collector's own page in Debian's chromium: a running collector (its own process) polling register
images of real devices replayed over Modbus TCP (`pv-collector simulate --image`), a real Mosquitto, and the
page opened directly and through Home Assistant's ingress.

Checks go through what a user sees (the page's text and elements) and what the devices hold: the values the
collector's decoder finds in each image (`decode_image`), which the image tests hold against what the
sources showed (`pv-collector decode`). Set PV_UPDATE_SCREENSHOTS=1 to copy the screenshots into docs/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from pv_collector.decode import encode
from pv_collector.model import Value
from pv_collector.profile import load_profile
from pv_collector.register_image import load_image
from scripts.e2e.browser import browser
from scripts.e2e.processes import ManagedProcess, free_port
from scripts.e2e.stack import VENV_BIN
from tests.e2e.ingress import IngressChain
from tests.mosquitto import Mosquitto

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "tests" / "fixtures" / "devices"
HOST = "127.0.0.1"
WAIT_MS = 30_000


@dataclass(frozen=True)
class Device:
    """A device of the test site: a replayed register image at `unit`, or nobody (`image` None)."""

    name: str
    unit: int
    image: str | None
    availability: str = "online"
    profile: str = ""  # for a unit where nobody answers; else the image's own


DEVICES = {
    # The Fronius Symo 8.2-3-M as evcc listed its registers (evcc-io/evcc#16924; SunSpec models 1, 113).
    "inverter": Device("Inverter", 1, "sunspec/fronius_symo_8_2_3_m.json"),
    # Every SDM630 input register, with the example values of the Eastron register table.
    "grid_meter": Device("Grid meter", 2, "sdm630/eastron_register_table.json"),
    # The Eastron SDM120 as sdm_modbus printed it (nmakel/sdm_modbus#27).
    "heat_pump": Device("Heat pump meter", 3, "sdm120/sdm_modbus_27.json"),
    # A Sungrow SH10RT's raw frames (evcc-io/evcc#16696): two blocks only, the rest refused.
    "hybrid": Device("Hybrid inverter", 4, "sungrow_sh_rt/sh10rt_evcc_16696.json"),
    # Nobody answers unit 9: on a bus (a connection) of its own, so its timeouts delay nobody else.
    "garage": Device("Garage meter", 9, None, "offline", "sdm120"),
}


@dataclass
class Site:
    """Everything the page tests run against."""

    workdir: Path
    web_port: int
    processes: dict[str, ManagedProcess]
    ingress: IngressChain

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.web_port}/"

    def image(self, device_id: str) -> Path:
        """The image file the device is replayed from (write it to change the device)."""
        return self.workdir / "images" / f"{device_id}.json"

    def logs(self) -> str:
        processes = [*self.processes.values(), self.ingress.process]
        return "\n".join(f"--- {p.name}\n{p.log_tail(3000)}" for p in processes)


def profile_of(device: Device) -> str:
    return device.profile or load_image(IMAGES / str(device.image)).identity.profile


def decoded(path: Path) -> dict[str, Value]:
    """What the collector's decoder finds in a register image (`pv-collector decode`)."""
    done = subprocess.run(
        [str(VENV_BIN / "pv-collector"), "decode", "--image", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(done.stdout))


def change_image(path: Path, key: str, value: Any) -> None:
    """Write `value` into the point `key` of the image (through the profile's own encoding), atomically."""
    image = load_image(path)
    point = next(p for p in load_profile(image.identity.profile).points if p.key == key)
    image.put(point.function, point.address, encode(point, value))
    image.save(path)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp("page")
    (workdir / "images").mkdir()
    broker = Mosquitto(workdir / "mosquitto")
    modbus_port, web_port = free_port(), free_port()
    replayed = []
    for device_id, device in DEVICES.items():
        if device.image is not None:
            shutil.copyfile(IMAGES / device.image, workdir / "images" / f"{device_id}.json")
            replayed += ["--image", f"{workdir / 'images' / device_id}.json@{device.unit}"]
    config = {
        "collector": {"id": "page", "name": "Page test PV"},
        "data_dir": str(workdir / "data"),
        "log_level": "info",
        "metrics": {"enabled": False},
        "mqtt": {"host": HOST, "port": broker.port},
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
                    {
                        "id": device_id,
                        "name": device.name,
                        "unit_id": device.unit,
                        "profile": profile_of(device),
                        "poll_interval": 1,
                    }
                    for device_id, device in DEVICES.items()
                    if (device.image is None) == silent
                ],
            }
            for name, silent in (("rs485", False), ("annex", True))
        ],
    }
    (workdir / "collector.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    pv_collector = str(VENV_BIN / "pv-collector")
    processes = {
        "devices": ManagedProcess(
            "devices",
            [pv_collector, "simulate", "--host", HOST, "--port", str(modbus_port), *replayed],
            workdir / "devices.log",
        ),
        "collector": ManagedProcess(
            "collector",
            [pv_collector, "run", "--config", str(workdir / "collector.yaml")],
            workdir / "collector.log",
        ),
    }
    broker.start()
    try:
        processes["devices"].start()
        processes["devices"].wait_for_port(HOST, modbus_port, 30)
        processes["collector"].start()
        processes["collector"].wait_for_port(HOST, web_port, 30)
        with IngressChain(web_port, workdir) as ingress:
            yield Site(workdir, web_port, processes, ingress)
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


def expect_overview(page: Page) -> None:
    """Every configured device is listed with the availability it really has, live."""
    expect(page.locator("#stream")).to_have_text("Live", timeout=WAIT_MS)
    for device_id, device in DEVICES.items():
        row = page.locator(f'tr[data-device="{device_id}"]')
        expect(row).to_have_count(1, timeout=WAIT_MS)
        expect(row.get_by_role("link", name=device.name)).to_be_visible()
        expect(row).to_contain_text(f"unit {device.unit}")
        expect(row).to_contain_text(profile_of(device))
        expect(row.locator("[data-availability]")).to_have_attribute(
            "data-availability", device.availability, timeout=WAIT_MS
        )
    expect(page.locator('tr[data-device="garage"]')).to_contain_text("no answer")  # why, from the collector


# ------------------------------------------------------------------------------------------ tests


def test_overview_lists_every_device_with_its_availability(page: Page, site: Site) -> None:
    page.goto(site.url)
    expect_overview(page)
    expect(page.locator("#mqtt-connection")).to_have_text("Connected")
    bus = page.locator("section.card", has_text="Bus rs485")
    expect(bus).to_contain_text("Modbus TCP")
    expect(bus.locator("[data-utilisation]")).not_to_have_attribute("data-utilisation", "", timeout=WAIT_MS)
    utilisation = float(bus.locator("[data-utilisation]").get_attribute("data-utilisation") or "nan")
    assert 0 < utilisation < 1


def test_device_page_shows_the_devices_values_and_follows_its_changes(page: Page, site: Site) -> None:
    """The values the device holds, with units; when the device's registers change (its replayed image is
    rewritten), the page shows the new value without a reload."""
    image = site.image("grid_meter")
    original = decoded(image)
    page.goto(site.url)
    page.get_by_role("link", name="Grid meter", exact=True).click()
    expect(page).to_have_url(re.compile(r"#/device/grid_meter$"))
    voltage = page.locator('td[data-point="voltage_l1"]')
    expect(voltage).to_have_text(f"{original['voltage_l1']:.1f} V", timeout=WAIT_MS)  # precision 1
    expect(page.locator('td[data-point="frequency"]')).to_have_text(f"{original['frequency']:.2f} Hz")
    try:
        change_image(image, "voltage_l1", 241.4)
        expect(voltage).to_have_text("241.4 V", timeout=WAIT_MS)
        change_image(image, "voltage_l1", 228.6)
        expect(voltage).to_have_text("228.6 V", timeout=WAIT_MS)
    finally:
        change_image(image, "voltage_l1", original["voltage_l1"])
    plan = page.locator("[data-card=plan]")
    expect(plan).to_contain_text(re.compile(r"\d+ requests per cycle"))
    expect(plan.locator(".tag", has_text=re.compile(r"^voltage_l1$"))).to_have_count(1)
    expect(page.locator("[data-card=quarantined]")).to_contain_text("answers every register")


def test_a_real_inverters_values_as_its_registers_hold_them(page: Page, site: Site) -> None:
    expected = decoded(site.image("inverter"))
    page.goto(f"{site.url}#/device/inverter")
    expect(page.locator('td[data-point="ac_power"]')).to_have_text(
        f"{expected['ac_power']:.0f} W", timeout=WAIT_MS
    )
    expect(page.locator('td[data-point="ac_voltage_l1"]')).to_have_text(f"{expected['ac_voltage_l1']:.1f} V")
    expect(page.locator('td[data-point="status"]')).to_have_text(str(expected["status"]))


def test_registers_a_device_refuses_are_listed_as_quarantined(page: Page, site: Site) -> None:
    """The SH10RT image holds two blocks of the profile's registers: the device refuses the rest."""
    image = load_image(site.image("hybrid"))
    points = {p.key: p for p in load_profile("sungrow_sh_rt").points}
    page.goto(f"{site.url}#/device/hybrid")
    rows = page.locator("[data-card=quarantined] tr[data-quarantined]")
    expect(rows.first).to_be_visible(timeout=WAIT_MS)
    listed = [row.get_attribute("data-quarantined") for row in rows.all()]
    assert "ac_power" in listed
    for key in listed:
        point = points[str(key)]
        assert not image.has(point.function, point.address, point.words), f"{key} is in the image"
    expect(page.locator(".pagehead [data-availability]")).to_have_attribute("data-availability", "online")


def test_offline_device_page_says_why(page: Page, site: Site) -> None:
    page.goto(f"{site.url}#/device/garage")
    expect(page.locator(".pagehead [data-availability]")).to_have_attribute("data-availability", "offline")
    expect(page.locator(".pagehead")).to_contain_text("no answer")
    expect(page.locator("[data-card=events]")).to_contain_text("Went offline", timeout=WAIT_MS)


def test_explorer_reads_a_range_and_shows_the_collectors_decoding(page: Page, site: Site) -> None:
    expected = decoded(site.image("grid_meter"))
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
    for row, key in ((rows.nth(0), "voltage_l1"), (rows.nth(2), "voltage_l2"), (rows.nth(4), "voltage_l3")):
        expect(row.locator(".tag")).to_have_text(key)
        as_f32 = float(row.locator("td[data-decoded]").get_attribute("data-decoded") or "nan")
        by_profile = float((row.locator("td.value").text_content() or "").split(" V")[0].replace(",", ""))
        assert as_f32 == pytest.approx(expected[key], abs=0.001)  # the registers read as float32
        assert by_profile == pytest.approx(expected[key], abs=0.001)  # the profile's decoding agrees


def test_identify_proposes_the_configuration_of_a_unit(page: Page, site: Site) -> None:
    """The grid meter's register image answers the SDM630's meter code: the page proposes its entry."""
    page.goto(f"{site.url}#/tools")
    identify = page.locator("form", has=page.get_by_role("button", name="Identify"))
    identify.locator("select[name=bus]").select_option("rs485")
    identify.locator("input[name=unit_id]").fill(str(DEVICES["grid_meter"].unit))
    identify.get_by_role("button", name="Identify").click()
    proposal = page.locator("pre.config")
    expect(proposal).to_contain_text("profile: sdm630", timeout=WAIT_MS)
    assert yaml.safe_load(proposal.text_content() or "") == [
        {"id": "meter_2", "name": "Eastron SDM630", "unit_id": 2, "profile": "sdm630"}
    ]


def test_record_from_the_page_downloads_the_devices_register_image(
    page: Page, site: Site, tmp_path: Path
) -> None:
    page.goto(f"{site.url}#/device/heat_pump")
    with page.expect_download(timeout=WAIT_MS) as download:
        page.locator("#record-card button[data-action=record]").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    expect(page.locator("#record-card")).to_contain_text(f"Saved {saved.name}.")

    assert re.fullmatch(r"heat_pump-\d{8}T\d{6}\.json", saved.name)
    image = load_image(saved)
    assert image.identity.profile == "sdm120"
    assert image.identity.unit_id == DEVICES["heat_pump"].unit
    recorded, replayed = decoded(saved), decoded(site.image("heat_pump"))
    assert recorded == replayed  # the device, read back whole: the same values


def test_log_filters_by_device(page: Page, site: Site) -> None:
    page.goto(f"{site.url}#/log")
    page.locator("select[name=device]").select_option("garage")
    rows = page.locator("#log-table tbody tr")
    expect(rows.first).to_contain_text("device lost", timeout=WAIT_MS)
    devices = {text.strip() for text in page.locator("#log-table tbody td.mono").all_text_contents()}
    assert devices == {"garage"}


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
        for device_id, device in DEVICES.items():
            expect(tab.locator(f'tr[data-device="{device_id}"] [data-availability]')).to_have_attribute(
                "data-availability", device.availability, timeout=WAIT_MS
            )
        tab.get_by_role("link", name="Grid meter", exact=True).click()
        expect(tab.locator('td[data-point="voltage_l1"]')).to_have_text(
            re.compile(r"\d+[,.]\d+ V"), timeout=WAIT_MS
        )
        tab.locator(".tabs a[data-tab=tools]").click()
        form = tab.locator("form#explorer")
        form.locator("select[name=target]").select_option("device:grid_meter")
        # The explorer starts at the device's first read-plan block: Read at once answers.
        expect(form.locator("select[name=function]")).to_have_value("input")
        expect(form.locator("input[name=address]")).to_have_value("0")
        count = int(form.locator("input[name=count]").input_value())
        assert count > 1
        form.locator("button[type=submit]").click()
        expect(tab.locator("#explorer-result tr[data-address]")).to_have_count(count, timeout=WAIT_MS)
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
                expect(tab.locator('tr[data-device="garage"] [data-availability]')).to_have_attribute(
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
