"""The whole PV Monitor system on 127.0.0.1: Mosquitto, simulated Modbus devices, the collector and a real
Home Assistant, provisioned over its public APIs (onboarding, MQTT entry, PV Monitor entry, dashboard).

Used by `scripts/demo` (persistent directory, fixed ports) and by tests/e2e (temporary directory, free ports).
Every process runs in its own process group and `stop()` ends all of them, whatever state they are in.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from . import mqtt_peek
from .entities import point_entities
from .hass_client import HassClient
from .paths import HASS_VENV, ROOT
from .places import Place, sunniest_place
from .processes import ManagedProcess, StackError, free_port, port_open, wait_until

VENV_BIN = ROOT / ".venv" / "bin"
EXAMPLE_CONFIG = ROOT / "examples" / "simulated.yaml"
INTEGRATION_SOURCE = ROOT / "custom_components" / "pv_monitor"
HOST = "127.0.0.1"

# Integrations for hass: what the demo shows, nothing that needs hardware, multicast or the cloud
# (default_config pulls in bluetooth/usb/dhcp/ssdp/zeroconf/cloud/mobile_app, which do not load with
# --skip-pip here and make no sense on a loopback-only demo).
HASS_INTEGRATIONS = (
    "frontend",
    "config",
    "recorder",
    "history",
    "logbook",
    "energy",
    "sun",
    "my",
    "webhook",
    "media_source",
    "usage_prediction",
)
# Integrations the onboarding's core_config step starts flows for; the demo needs none of them.
ONBOARDING_EXTRAS = ("google_translate", "met", "radio_browser", "shopping_list")


@dataclass
class StackSettings:
    """Where the stack lives and which ports it uses (None: a free port is chosen)."""

    workdir: Path
    hass_port: int | None = None
    mqtt_port: int | None = None
    modbus_port: int | None = None
    metrics_port: int | None = None
    web_port: int | None = None  # the collector's own page
    username: str = "demo"
    password: str = "pv-monitor-demo"
    owner_name: str = "PV Demo"
    collector_config: Path = EXAMPLE_CONFIG
    # Override every device's poll interval (seconds); None keeps the example's.
    poll_interval: float | None = None
    mqtt_keepalive: int = 30
    # Where the system is: the simulated sun, Home Assistant's home and time zone, the collector's site.
    # None: the city where the sun is highest at start, so that the demo and the tests see production
    # whatever the time of day (scripts/e2e/places.py).
    place: Place | None = None
    extra_simulator_args: tuple[str, ...] = ()
    startup_timeout: float = 120.0
    hass_venv: Path = HASS_VENV


@dataclass
class Stack:
    settings: StackSettings
    hass_port: int = 0
    mqtt_port: int = 0
    modbus_port: int = 0
    metrics_port: int = 0
    web_port: int = 0
    token: str | None = None
    collector_id: str = ""
    place: Place = field(default_factory=sunniest_place)
    dashboard_url_path: str = ""
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    # ------------------------------------------------------------------ layout
    @property
    def workdir(self) -> Path:
        return self.settings.workdir

    @property
    def hass_bin(self) -> Path:
        return self.settings.hass_venv / "bin" / "hass"

    @property
    def hass_dir(self) -> Path:
        return self.workdir / "hass"

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.hass_port}"

    @property
    def client(self) -> HassClient:
        return HassClient(self.url, self.token)

    def __post_init__(self) -> None:
        s = self.settings
        if s.place is not None:
            self.place = s.place
        self.hass_port = s.hass_port or free_port()
        self.mqtt_port = s.mqtt_port or free_port()
        self.modbus_port = s.modbus_port or free_port()
        self.metrics_port = s.metrics_port or free_port()
        self.web_port = s.web_port or free_port()
        if not self.hass_bin.exists():
            raise StackError(f"{self.hass_bin} is missing; run PV_SETUP_BROWSER=1 scripts/setup")
        for name, port in (
            ("Home Assistant", self.hass_port),
            ("MQTT", self.mqtt_port),
            ("Modbus", self.modbus_port),
            ("metrics", self.metrics_port),
            ("collector page", self.web_port),
        ):
            if port_open(HOST, port):
                raise StackError(f"{name} port {HOST}:{port} is already in use; choose another one")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.processes = {
            "mosquitto": ManagedProcess(
                "mosquitto",
                [
                    shutil.which("mosquitto") or "/usr/sbin/mosquitto",
                    "-c",
                    str(self.workdir / "mosquitto" / "mosquitto.conf"),
                ],
                self.log_dir / "mosquitto.log",
            ),
            "simulator": ManagedProcess(
                "simulator",
                [
                    str(VENV_BIN / "pv-collector"),
                    "simulate",
                    "--host",
                    HOST,
                    "--port",
                    str(self.modbus_port),
                    "--latitude",
                    str(self.place.latitude),
                    "--longitude",
                    str(self.place.longitude),
                    # The devices' lifetime counters carry on across restarts (--fresh forgets).
                    "--state",
                    str(self.workdir / "simulator-state.json"),
                    *s.extra_simulator_args,
                ],
                self.log_dir / "simulator.log",
            ),
            "collector": ManagedProcess(
                "collector",
                [str(VENV_BIN / "pv-collector"), "run", "--config", str(self.workdir / "collector.yaml")],
                self.log_dir / "collector.log",
            ),
            "hass": ManagedProcess(
                "hass",
                [str(self.hass_bin), "-c", str(self.hass_dir), "--skip-pip", "--log-no-color"],
                self.log_dir / "hass.log",
                env={"PATH": f"{s.hass_venv / 'bin'}:{os.environ.get('PATH', '')}"},
            ),
        }

    # ------------------------------------------------------------------ whole stack
    def start(self) -> None:
        """Start and provision everything; on failure everything started so far is stopped."""
        try:
            self.start_broker()
            self.start_simulator()
            self.start_collector()
            self.start_hass()
            self.provision()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process (reverse order), ignoring ones that are not running."""
        for name in ("hass", "collector", "simulator", "mosquitto"):
            try:
                self.processes[name].stop()
            except Exception as err:
                print(f"stack: stopping {name} failed: {err!r}")

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def logs(self, chars: int = 6000) -> str:
        """The tail of every process log, for failure reports."""
        parts = []
        for name, process in self.processes.items():
            parts.append(f"----- {name} ({process.log_path}) -----\n{process.log_tail(chars)}")
        hass_log = self.hass_dir / "home-assistant.log"
        if hass_log.exists():
            parts.append(f"----- {hass_log} -----\n{hass_log.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)

    # ------------------------------------------------------------------ broker
    def start_broker(self) -> None:
        directory = self.workdir / "mosquitto"
        directory.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.mqtt_port} {HOST}",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {directory}/",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops privileges and cannot write its directory
        (directory / "mosquitto.conf").write_text("\n".join(lines) + "\n")
        process = self.processes["mosquitto"]
        process.start()
        process.wait_for_port(HOST, self.mqtt_port, 15)

    # ------------------------------------------------------------------ simulated devices
    def start_simulator(self) -> None:
        process = self.processes["simulator"]
        process.start()
        process.wait_for_port(HOST, self.modbus_port, 30)

    # ------------------------------------------------------------------ collector
    def collector_config(self) -> dict[str, Any]:
        """The example configuration, pointed at this stack's broker, simulator and directories."""
        path = self.settings.collector_config
        if not path.exists():
            raise StackError(f"collector example configuration {path} is missing")
        config: dict[str, Any] = yaml.safe_load(path.read_text())
        config["data_dir"] = str(self.workdir / "collector-data")
        config["metrics"] = {
            **(config.get("metrics") or {}),
            "enabled": True,
            "host": HOST,
            "port": self.metrics_port,
        }
        config["web"] = {**(config.get("web") or {}), "enabled": True, "host": HOST, "port": self.web_port}
        mqtt = config.setdefault("mqtt", {})
        mqtt.update({"host": HOST, "port": self.mqtt_port, "keepalive": self.settings.mqtt_keepalive})
        for bus in config.get("buses", []):
            if bus.get("type") in ("tcp", "rtu_over_tcp"):
                bus["host"], bus["port"] = HOST, self.modbus_port
            if self.settings.poll_interval is not None:
                for device in bus.get("devices", []):
                    device["poll_interval"] = self.settings.poll_interval
        # The array is where the simulated sun shines (the collector tells night from failure by it).
        config["site"] = {"latitude": self.place.latitude, "longitude": self.place.longitude}
        self.collector_id = str(config["collector"]["id"])
        return config

    def start_collector(self) -> None:
        config = self.collector_config()
        (self.workdir / "collector.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        self.processes["collector"].start()

        def online() -> bool:
            self.processes["collector"].check_alive()
            status = mqtt_peek.retained(HOST, self.mqtt_port, self.status_topic, timeout=1.0)
            return status.get(self.status_topic) == b"online"

        try:
            wait_until(online, 45, f"collector status {self.status_topic} = online", interval=0.3)
        except StackError as err:
            raise StackError(f"{err}\n{self.processes['collector'].log_tail()}") from None

    @property
    def base_topic(self) -> str:
        config = yaml.safe_load((self.workdir / "collector.yaml").read_text())
        return str((config.get("mqtt") or {}).get("base_topic") or "pv_monitor")

    @property
    def status_topic(self) -> str:
        return f"{self.base_topic}/{self.collector_id}/status"

    def kill_collector(self) -> None:
        """SIGKILL: no clean shutdown, so the broker publishes the Last Will."""
        self.processes["collector"].kill()

    def restart_collector(self) -> None:
        self.processes["collector"].stop()
        self.start_collector()

    # ------------------------------------------------------------------ Home Assistant
    def write_hass_config(self) -> None:
        self.hass_dir.mkdir(parents=True, exist_ok=True)
        components = self.hass_dir / "custom_components"
        components.mkdir(exist_ok=True)
        link = components / "pv_monitor"
        if link.is_symlink() or link.exists():
            if link.resolve() != INTEGRATION_SOURCE.resolve():
                raise StackError(f"{link} exists and is not a link to {INTEGRATION_SOURCE}")
        else:
            link.symlink_to(INTEGRATION_SOURCE, target_is_directory=True)
        config: dict[str, Any] = {
            "homeassistant": {
                "name": "Home",  # the house in the Energy dashboard's flows
                "latitude": self.place.latitude,
                "longitude": self.place.longitude,
                "elevation": 100,
                "unit_system": "metric",
                "time_zone": self.place.time_zone,
                "country": "DE",
                "currency": "EUR",
                "language": "en",
            },
            **{name: {} for name in HASS_INTEGRATIONS},
            "recorder": {"commit_interval": 2, "purge_keep_days": 7},
            "logger": {
                "default": "warning",
                "logs": {
                    "custom_components.pv_monitor": "info",
                    # Always-loaded media helpers complain about binaries a demo does not need.
                    "haffmpeg": "critical",
                    "homeassistant.components.camera.img_util": "critical",
                    "aiohttp_fast_zlib": "error",
                },
            },
        }
        text = "# Generated by scripts/e2e/stack.py at every start; edits are overwritten.\n"
        text += yaml.safe_dump(config, sort_keys=False, allow_unicode=True).replace(": {}\n", ":\n")
        # As a new installation has it: automations made in the editor (and by PV Monitor's alert step).
        text += "automation: !include automations.yaml\n"
        (self.hass_dir / "configuration.yaml").write_text(text)
        automations = self.hass_dir / "automations.yaml"
        if not automations.exists():
            automations.write_text("[]\n")
        self.write_onboarding_store()
        self.write_http_store()

    def write_onboarding_store(self) -> None:
        """Before the first start: onboarding's location step counts as done (configuration.yaml has the
        location). Finishing that step over REST would set up weather, radio, text-to-speech and shopping
        list integrations that the demo does not install, filling Settings → Logs with errors."""
        path = self.hass_dir / ".storage" / "onboarding"
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {"version": 4, "minor_version": 1, "key": "onboarding", "data": {"done": ["core_config"]}}
        path.write_text(json.dumps(document, indent=2))
        path.chmod(0o600)

    def write_http_store(self) -> None:
        """Bind hass to 127.0.0.1:<port>.

        Since 2026.10 the HTTP settings live in `.storage/http` as a stable/pending pair: YAML is only
        migrated once, as a *pending* trial that reverts to the default (all interfaces, port 8123) after
        5 minutes unless promoted. hass is stopped here, so the stack writes the confirmed (stable) slot
        itself, keeping any other settings already stored.
        """
        path = self.hass_dir / ".storage" / "http"
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = _read_json(path).get("data") or {}
        stable = {
            "cors_allowed_origins": ["https://cast.home-assistant.io"],
            "login_attempts_threshold": -1,
            "ip_ban_enabled": True,
            "ssl_profile": "modern",
            "use_x_frame_options": True,
            **(stored.get("stable") or {}),
            "server_host": [HOST],
            "server_port": self.hass_port,
            "created_at": datetime.now(UTC).isoformat(),
            "error": None,
            "error_message": None,
        }
        document = {
            "version": 2,
            "minor_version": 2,
            "key": "http",
            "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
        }
        path.write_text(json.dumps(document, indent=2))
        path.chmod(0o600)

    def start_hass(self) -> None:
        self.write_hass_config()
        process = self.processes["hass"]
        process.start()
        probe = HassClient(self.url)

        def up() -> bool:
            process.check_alive()
            return probe.api_running()

        try:
            wait_until(up, self.settings.startup_timeout, f"Home Assistant API on {self.url}", interval=0.5)
        except StackError as err:
            raise StackError(f"{err}\n{process.log_tail()}") from None

    def restart_hass(self) -> None:
        self.processes["hass"].stop(timeout=60)
        self.start_hass()
        self.wait_for_api_ready()

    def wait_for_api_ready(self) -> None:
        """Until the authenticated API answers and hass reports RUNNING."""

        def running() -> bool:
            self.processes["hass"].check_alive()
            return bool(self.client.get("/api/config").get("state") == "RUNNING")

        wait_until(running, self.settings.startup_timeout, "Home Assistant to reach state RUNNING", 0.5)

    # ------------------------------------------------------------------ provisioning over the public API
    def provision(self) -> None:
        self.authenticate()
        self.wait_for_api_ready()
        self.ensure_mqtt_entry()
        self.ensure_pv_monitor_entry()
        self.remove_onboarding_extras()
        self.wait_for_entities()
        self.wait_for_energy_dashboard()
        self.create_dashboard()

    @property
    def credentials_file(self) -> Path:
        return self.workdir / "credentials.json"

    def authenticate(self) -> None:
        """Onboard on first start; later starts reuse the stored long-lived token (or log in again)."""
        s = self.settings
        client = HassClient(self.url)
        stored = _read_json(self.credentials_file).get("token")
        steps = client.onboarding_status()
        if not steps.get("user"):
            client.token = client.onboard(s.owner_name, s.username, s.password).access_token
        else:
            if stored and all(steps.values()) and HassClient(self.url, stored).token_valid():
                self.token = stored
                return
            client.token = client.login(s.username, s.password).access_token
            client.finish_onboarding(steps)  # after an interrupted first start
        self.token = client.create_long_lived_token(f"PV Monitor demo {time.strftime('%Y-%m-%d %H:%M:%S')}")
        self.credentials_file.write_text(
            json.dumps(
                {"url": self.url, "username": s.username, "password": s.password, "token": self.token},
                indent=2,
            )
        )
        self.credentials_file.chmod(0o600)

    def remove_onboarding_extras(self) -> None:
        """Onboarding's core_config step starts flows for weather/TTS/radio/shopping list: not wanted here."""
        client = self.client
        for flow in client.flows_in_progress():
            if flow.get("handler") in ONBOARDING_EXTRAS:
                client.request("DELETE", f"/api/config/config_entries/flow/{flow['flow_id']}", ok=(200, 404))
        for entry in client.config_entries():
            if entry["domain"] in ONBOARDING_EXTRAS:
                client.delete_config_entry(entry["entry_id"])

    def ensure_mqtt_entry(self) -> None:
        """One MQTT entry pointing at this stack's broker (an entry for another port is replaced)."""
        client = self.client
        for entry in client.config_entries("mqtt"):
            data = self._entry_data(entry)
            if data.get("broker") == HOST and int(data.get("port", 0)) == self.mqtt_port:
                self._wait_entry_loaded(entry["entry_id"])
                return
            client.delete_config_entry(entry["entry_id"])
        flow = client.start_flow("mqtt")
        result = client.flow_step(
            flow["flow_id"],
            {
                "broker": HOST,
                "port": self.mqtt_port,
                "other_settings": {"set_client_cert": False, "set_ca_cert": "off"},
            },
        )
        if result.get("type") != "create_entry":
            raise StackError(f"MQTT config flow did not create an entry: {result}")
        self._wait_entry_loaded(result["result"]["entry_id"])

    def _entry_data(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Broker settings of an MQTT entry (REST does not show entry data; the title is the broker)."""
        storage = _read_json(self.hass_dir / ".storage" / "core.config_entries")
        for stored in storage.get("data", {}).get("entries", []):
            if stored.get("entry_id") == entry["entry_id"]:
                return dict(stored.get("data", {}))
        return {}

    def _wait_entry_loaded(self, entry_id: str, timeout: float = 60) -> None:
        def loaded() -> bool:
            entries = [e for e in self.client.config_entries() if e["entry_id"] == entry_id]
            if not entries:
                raise StackError(f"config entry {entry_id} disappeared")
            state = entries[0]["state"]
            if state in ("setup_error", "migration_error", "failed_unload"):
                raise StackError(f"config entry {entries[0]['domain']} failed: {entries[0]}")
            return bool(state == "loaded")

        wait_until(loaded, timeout, f"config entry {entry_id} to load", 0.3)

    def ensure_pv_monitor_entry(self) -> None:
        """Accept the discovery flow the retained announcement starts; else add the collector by hand."""
        client = self.client

        def entry_or_flow() -> str | None:
            if any(e for e in client.config_entries("pv_monitor")):
                return "entry"
            for flow in client.flows_in_progress():
                if flow.get("handler") == "pv_monitor":
                    self._drive_flow(flow["flow_id"], None)
                    return "flow"
            return None

        try:
            wait_until(entry_or_flow, 30, "a PV Monitor discovery flow", 0.5)
        except StackError:
            # No discovery seen (e.g. the announcement was consumed before): use the user step.
            flow = client.start_flow("pv_monitor")
            self._drive_flow(flow["flow_id"], flow)
        entries = client.config_entries("pv_monitor")
        if not entries:
            raise StackError("no PV Monitor config entry after its config flow")
        for entry in entries:
            self._wait_entry_loaded(entry["entry_id"])

    def _drive_flow(self, flow_id: str, result: dict[str, Any] | None) -> None:
        """Answer a config flow with its defaults (first option of a choice) until it finishes."""
        client = self.client
        if result is None:
            result = dict(client.get(f"/api/config/config_entries/flow/{flow_id}"))
        for _ in range(6):
            kind = result.get("type")
            if kind == "create_entry":
                return
            if kind == "abort":
                if result.get("reason") in ("already_configured", "already_in_progress"):
                    return
                raise StackError(f"PV Monitor config flow aborted: {result}")
            if kind == "menu":
                result = client.flow_step(flow_id, {"next_step_id": result["menu_options"][0]})
                continue
            if kind == "form":
                if result.get("errors"):
                    raise StackError(f"PV Monitor config flow form error: {result}")
                result = client.flow_step(flow_id, _form_defaults(result.get("data_schema") or []))
                continue
            raise StackError(f"PV Monitor config flow in unexpected state: {result}")
        raise StackError(f"PV Monitor config flow did not finish: {result}")

    # ------------------------------------------------------------------ entities and dashboard
    def announcements(self) -> list[dict[str, Any]]:
        found = mqtt_peek.announcements(HOST, self.mqtt_port, self.base_topic)
        return [a for a in found if a.get("collector", {}).get("id") == self.collector_id]

    def point_entities(self) -> list[Any]:
        return point_entities(self.announcements(), self.client.entity_registry())

    def wait_for_entities(self, timeout: float = 60) -> None:
        """Until every announced point has an entity and the primary number points show numbers."""

        def ready() -> bool:
            # advanced points are registered disabled (docs/mqtt-contract.md)
            points = [p for a in self.announcements() for d in a["devices"] for p in d["points"]]
            announced = sum(1 for p in points if not p.get("advanced"))
            entities = self.point_entities()
            if announced == 0 or len(entities) < announced:
                return False
            states = self.client.states()
            numeric = [p for p in entities if p.point["kind"] == "number" and "category" not in p.point]
            return all(_is_number(states.get(p.entity_id, {}).get("state")) for p in numeric)

        wait_until(ready, timeout, "PV Monitor entities with live values", 0.5)

    def energy_sources(self) -> list[dict[str, Any]]:
        """The Energy dashboard's sources (Home Assistant's energy preferences)."""
        prefs = self.client.ws("energy/get_prefs")
        return list((prefs or {}).get("energy_sources", [])) if isinstance(prefs, dict) else []

    def wait_for_energy_dashboard(self, timeout: float = 60) -> None:
        """The set-up flow added the collector to the Energy dashboard once its entities existed."""
        wait_until(
            lambda: bool(self.energy_sources()), timeout, "PV Monitor's sources in the Energy dashboard", 0.5
        )

    def create_dashboard(self) -> str:
        """The integration's own dashboard (service `pv_monitor.create_dashboard`); returns its url path."""
        entry = next(iter(self.client.config_entries("pv_monitor")))
        response = self.client.post(
            "/api/services/pv_monitor/create_dashboard?return_response",
            {"config_entry_id": entry["entry_id"]},
        )
        url_path = str(response["service_response"]["url_path"])
        self.dashboard_url_path = url_path
        return url_path


def _form_defaults(schema: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for item in schema:
        name = item["name"]
        if "default" in item:
            data[name] = item["default"]
            continue
        suggested = (item.get("description") or {}).get("suggested_value")
        if suggested is not None:
            data[name] = suggested
            continue
        options = _options(item)
        if options:
            data[name] = options[0]
        elif item.get("required"):
            raise StackError(f"config flow field {name!r} has no default and no options: {item}")
    return data


def _options(item: dict[str, Any]) -> list[Any]:
    raw: list[Any] = list(item.get("options") or [])
    selector = item.get("selector") or {}
    if "select" in selector:
        raw = list(selector["select"].get("options") or [])
    values = []
    for option in raw:
        if isinstance(option, dict):
            values.append(option.get("value"))
        elif isinstance(option, (list, tuple)):
            values.append(option[0])
        else:
            values.append(option)
    return values


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def sigterm_as_keyboard_interrupt() -> None:
    """Let SIGTERM stop a foreground demo the same way as Ctrl-C."""

    def handler(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
