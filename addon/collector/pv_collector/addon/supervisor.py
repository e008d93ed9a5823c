"""The Supervisor's HTTP API as the add-on uses it, and the MQTT broker the collector connects to.

Three calls, each allowed to every add-on without `hassio_api` (developers.home-assistant.io,
docs/apps/communication.md, "Supervisor API": `http://supervisor/` with the container's `SUPERVISOR_TOKEN`
as bearer token; `/addons/self/*` and `/services*` need no `hassio_api: true`; the payload of
`POST /addons/<addon>/options` is in docs/api/supervisor/endpoints.md):

- `GET /addons/self/info`: the add-on's own `ingress_port` and its stored `options` (as the user saved them,
  merged over config.yaml's defaults, before the Supervisor drops the names the schema no longer has);
- `POST /addons/self/options` with `{"options": {...}}`: store renamed options (validated by the
  Supervisor against config.yaml's schema);
- `GET /services/mqtt`: the broker of the Supervisor's `mqtt` service (the Mosquitto broker add-on).

Only the standard library is used; the Supervisor is never reached through a proxy.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pv_collector.config.schema import tcp_port
from pv_collector.errors import BrokerUnavailable
from pv_collector.validate import Invalid

_LOGGER = logging.getLogger("pv_collector.addon")

SUPERVISOR_URL = "http://supervisor"
SUPERVISOR_TIMEOUT = 10.0  # seconds per request
MQTT_PORT, MQTT_TLS_PORT = 1883, 8883


@dataclass(frozen=True, slots=True)
class Supervisor:
    """Where the Supervisor's API is (`url`) and the token that authorises this add-on."""

    url: str
    token: str
    timeout: float = SUPERVISOR_TIMEOUT

    def request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """`METHOD <url><path>` with a JSON `body`; the JSON answer.

        Raises `urllib.error.HTTPError` (an answer other than 2xx), `urllib.error.URLError` / `OSError`
        (not reachable) or `ValueError` (an answer that is not JSON). Callers in this package turn them into
        one log line or a `BrokerUnavailable`.
        """
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            f"{self.url.rstrip('/')}{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                **({"Content-Type": "application/json"} if data is not None else {}),
            },
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=self.timeout) as response:
            return json.loads(response.read().decode("utf-8"))


def one_line(text: str) -> str:
    """`text` with every run of white space (newlines included) as one space."""
    return re.sub(r"\s+", " ", text).strip()


def _supervisor_message(error: urllib.error.HTTPError) -> str:
    """The `message` of a Supervisor error answer, else the HTTP reason."""
    try:
        body = json.loads(error.read().decode("utf-8", "replace"))
    except (OSError, ValueError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return one_line(body["message"])
    return one_line(str(error.reason))


def _why(error: Exception) -> str:
    """One line for a failed request (no secrets: the token is never part of an error)."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}: {_supervisor_message(error)}"
    if isinstance(error, urllib.error.URLError):
        return one_line(str(error.reason))
    if isinstance(error, ValueError):
        return "the answer is not JSON"
    return one_line(str(error))


def fetch_self_info(supervisor: Supervisor) -> dict[str, Any] | None:
    """`GET /addons/self/info`'s data (`ingress_port`, `options`, ...); None with one warning when the
    Supervisor does not answer it (the page is off then, and the collector runs anyway)."""
    try:
        body = supervisor.request("GET", "/addons/self/info")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        why = _why(exc)
    else:
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, dict):
            return data
        why = "no data in its answer"
    _LOGGER.warning("The app's page is off: the Supervisor did not tell its ingress port (%s)", why)
    return None


def ingress_port(info: Mapping[str, Any]) -> int | None:
    """The add-on's ingress port (config.yaml's `ingress_port`) from its info; None, with one warning, when
    the info does not hold a port."""
    port = info.get("ingress_port")
    try:
        return tcp_port(port)
    except Invalid:
        _LOGGER.warning("The app's page is off: the Supervisor did not tell its ingress port (%r)", port)
        return None


def save_options(supervisor: Supervisor, options: Mapping[str, Any]) -> str | None:
    """`POST /addons/self/options`: store `options` as the add-on's options. None when stored, else one line
    saying why not (the Supervisor refused them, or did not answer)."""
    try:
        supervisor.request("POST", "/addons/self/options", {"options": dict(options)})
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return _why(exc)
    return None


def fetch_mqtt_service(supervisor: Supervisor) -> dict[str, Any]:
    """`GET /services/mqtt`: the broker the Supervisor's mqtt service provides (`host`, `port`, `ssl`,
    `username`, `password`). Raises `BrokerUnavailable` with one line saying what the user can do."""
    try:
        body = supervisor.request("GET", "/services/mqtt")
    except urllib.error.HTTPError as exc:
        message = _supervisor_message(exc)
        if exc.code == 400 and "not enabled" in message.lower():
            raise BrokerUnavailable(
                "No MQTT broker: the Supervisor has no MQTT service. Install and start the Mosquitto broker "
                "app, or set the broker under 'mqtt' (host, port, username, password) in the options."
            ) from None
        if exc.code in (401, 403):
            raise BrokerUnavailable(
                f"No MQTT broker: the Supervisor refused the mqtt service to this app (HTTP {exc.code}: "
                f"{message}). Set the broker under 'mqtt' in the options."
            ) from None
        raise BrokerUnavailable(
            f"No MQTT broker: the Supervisor answered HTTP {exc.code} for /services/mqtt ({message})."
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise BrokerUnavailable(
            f"No MQTT broker: the Supervisor API at {supervisor.url} is not reachable ({_why(exc)})."
        ) from None
    except ValueError:
        raise BrokerUnavailable(
            "No MQTT broker: the Supervisor's answer for /services/mqtt is not JSON."
        ) from None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BrokerUnavailable("No MQTT broker: the Supervisor's answer for /services/mqtt has no data.")
    return data


@dataclass(frozen=True, slots=True, kw_only=True)
class Broker:
    """The MQTT broker the collector connects to, and where that choice came from."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    source: Literal["options", "supervisor"] = "options"

    def describe(self) -> str:
        """One line for the log, without secrets."""
        origin = "from the options" if self.source == "options" else "from the Supervisor's mqtt service"
        login = "with a username" if self.username else "anonymous"
        tls = "TLS" if self.tls or self.ca_file else "no TLS"
        return f"{self.host}:{self.port} ({origin}, {login}, {tls})"


def _service_broker(data: Mapping[str, Any]) -> Broker:
    host, port = data.get("host"), data.get("port")
    if not isinstance(host, str) or not host or isinstance(port, bool) or not isinstance(port, int):
        raise BrokerUnavailable("No MQTT broker: the Supervisor's mqtt service names no host and port.")
    username, password = data.get("username"), data.get("password")
    return Broker(
        host=host,
        port=port,
        username=username if isinstance(username, str) and username else None,
        password=password if isinstance(password, str) and password else None,
        tls=data.get("ssl") is True,
        source="supervisor",
    )


def in_ssl_dir(path: str, ssl_dir: Path) -> str:
    """A certificate or key file named in the options: relative names are in Home Assistant's ssl folder."""
    return path if Path(path).is_absolute() else str(ssl_dir / path)


def resolve_broker(mqtt: Mapping[str, Any], *, supervisor: Supervisor | None, ssl_dir: Path) -> Broker:
    """The broker: the one set in the `mqtt` options, else the Supervisor's mqtt service.

    With `mqtt.host` set the Supervisor is not asked (the port defaults to 1883, or 8883 with TLS). Without
    it, the service's broker is used and any other field set under `mqtt` (port, username, password, tls,
    ca_file) replaces the service's value. Raises `BrokerUnavailable` when neither names a broker.
    """
    ca_file = mqtt.get("ca_file")
    ca_file = in_ssl_dir(ca_file, ssl_dir) if isinstance(ca_file, str) else None
    host = mqtt.get("host")
    if host:
        tls = bool(mqtt.get("tls")) or ca_file is not None
        base = Broker(host=str(host), port=MQTT_TLS_PORT if tls else MQTT_PORT, tls=tls, source="options")
    elif supervisor is not None:
        base = _service_broker(fetch_mqtt_service(supervisor))
    else:
        raise BrokerUnavailable(
            "No MQTT broker: SUPERVISOR_TOKEN is not set (not running under the Supervisor?) and no broker "
            "is set under 'mqtt' in the options."
        )
    return Broker(
        host=base.host,
        port=mqtt.get("port", base.port),
        username=mqtt.get("username", base.username),
        password=mqtt.get("password", base.password),
        tls=mqtt.get("tls", base.tls),
        ca_file=ca_file,
        source=base.source,
    )
