"""Fixtures of the add-on tests: a fake Supervisor API and a runner for the add-on's start step."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pv_collector.addon.start import AddonPaths

REPO = Path(__file__).resolve().parents[2]
ADDON = REPO / "addon"
SUPERVISOR_TOKEN = "f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0"


@dataclass
class FakeSupervisor:
    """The Supervisor's `GET /services/<service>`, `GET /addons/self/info` and `POST /addons/self/options`
    as an add-on sees them (aiohttp on 127.0.0.1).

    `mqtt` is the service's data, or None when no add-on provides the service ("Service not enabled");
    `ingress_port` is what the app's info says (config.yaml's `ingress_port`), None: the info fails;
    `options` is what the info says the user's stored options are (None: left out of the answer), and
    `saved` collects every options body the app stores (`refuse_options`: answered with HTTP 400).
    """

    mqtt: dict[str, Any] | None = None
    ingress_port: int | None = 8099
    options: dict[str, Any] | None = None
    token: str = SUPERVISOR_TOKEN
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    saved: list[dict[str, Any]] = field(default_factory=list)
    refuse_options: bool = False
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, request.headers.get("Authorization")))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"result": "error", "message": "Unauthorized"}, status=401)
        if request.match_info["service"] != "mqtt":
            return web.json_response({"result": "error", "message": "Service does not exist"}, status=404)
        if self.mqtt is None:
            return web.json_response({"result": "error", "message": "Service not enabled"}, status=400)
        return web.json_response({"result": "ok", "data": self.mqtt})

    async def info(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, request.headers.get("Authorization")))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"result": "error", "message": "Unauthorized"}, status=401)
        if self.ingress_port is None:
            return web.json_response({"result": "error", "message": "System is not ready"}, status=500)
        data: dict[str, Any] = {
            "slug": "local_pv_monitor",
            "ingress": True,
            "ingress_port": self.ingress_port,
        }
        if self.options is not None:
            data["options"] = self.options
        return web.json_response({"result": "ok", "data": data})

    async def save_options(self, request: web.Request) -> web.Response:
        self.requests.append((f"POST {request.path}", request.headers.get("Authorization")))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"result": "error", "message": "Unauthorized"}, status=401)
        body = await request.json()
        if self.refuse_options:
            message = "App pv_monitor has invalid options: not a valid value. Got {'collector': ...}"
            return web.json_response({"result": "error", "message": message}, status=400)
        self.saved.append(body)
        return web.json_response({"result": "ok", "data": {}})


@pytest.fixture
async def supervisor() -> AsyncIterator[FakeSupervisor]:
    fake = FakeSupervisor(
        mqtt={
            "host": "core-mosquitto",
            "port": 1883,
            "ssl": False,
            "protocol": "3.1.1",
            "username": "addons",
            "password": "Ohgh5zie-service-password",
            "addon": "core_mosquitto",
        }
    )
    app = web.Application()
    app.router.add_get("/services/{service}", fake.handle)
    app.router.add_get("/addons/self/info", fake.info)
    app.router.add_post("/addons/self/options", fake.save_options)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


@dataclass
class StartResult:
    """What one run of the start step left behind."""

    code: int
    stdout: str
    stderr: str

    @property
    def log_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    @property
    def errors(self) -> list[str]:
        return [line for line in self.log_lines if "level=error" in line]

    def config(self) -> dict[str, Any]:
        assert self.code == 0, self.stderr
        data: dict[str, Any] = json.loads(self.stdout)
        return data


@dataclass
class AddonHome:
    """The folders the Supervisor mounts into the add-on, in a temporary directory."""

    root: Path

    @property
    def options(self) -> Path:
        return self.root / "data" / "options.json"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def ssl(self) -> Path:
        return self.root / "ssl"

    def paths(self) -> AddonPaths:
        """These folders as the start step takes them."""
        return AddonPaths(options=self.options, data_dir=self.data, config_dir=self.config, ssl_dir=self.ssl)

    def write_options(self, options: dict[str, Any] | str) -> None:
        text = options if isinstance(options, str) else json.dumps(options)
        self.options.write_text(text, encoding="utf-8")

    def argv(self, supervisor_url: str, *extra: str) -> list[str]:
        return [
            "--options",
            str(self.options),
            "--data-dir",
            str(self.data),
            "--config-dir",
            str(self.config),
            "--ssl-dir",
            str(self.ssl),
            "--supervisor-url",
            supervisor_url,
            *extra,
        ]

    async def start(
        self, supervisor_url: str, *extra: str, token: str | None = SUPERVISOR_TOKEN, limit: float = 60
    ) -> StartResult:
        """Run `python -m pv_collector.addon` like the s6 run script does, and wait for it to end."""
        process = await self.spawn(supervisor_url, *extra, token=token)
        stdout, stderr = await asyncio.wait_for(process.communicate(), limit)
        assert process.returncode is not None
        return StartResult(process.returncode, stdout.decode(), stderr.decode())

    async def spawn(
        self, supervisor_url: str, *extra: str, token: str | None = SUPERVISOR_TOKEN
    ) -> asyncio.subprocess.Process:
        env = {
            key: value for key, value in os.environ.items() if key not in ("SUPERVISOR_TOKEN", "HASSIO_TOKEN")
        }
        if token is not None:
            env["SUPERVISOR_TOKEN"] = token
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pv_collector.addon",
            *self.argv(supervisor_url, *extra),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )


@pytest.fixture
def addon_home(tmp_path: Path) -> AddonHome:
    home = AddonHome(tmp_path)
    for folder in (home.data, home.config, home.ssl):
        folder.mkdir()
    return home


@pytest.fixture
def serial_port() -> Iterator[str]:
    """A real serial device path: the slave end of a pseudo-terminal (what /dev/ttyUSB0 is to pyserial)."""
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)
