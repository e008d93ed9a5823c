"""The collector's web page: an aiohttp server in the collector's own process and event loop.

`WebServer(collector, config).start()` serves, on `config.host`:`config.port` (docs/collector-page.md):

- `GET /` the page (one HTML file; `static/` its script, style sheet and translations `static/i18n/*.json`),
- `GET api/status` the overview, `GET api/devices/<id>` a device, `GET api/log[?device=<id>]` log lines,
- `GET api/events` server-sent events: `status` (the overview, every `STATUS_INTERVAL` seconds and at
  every availability change), `state`, `availability`, `event`, `log` as they happen, `resync` when the
  stream fell behind,
- `POST api/explorer` one bounded register read (`pv_collector.explorer`; never a write),
  `POST api/devices/<id>/record` a register image, `POST api/identify` (501 when not available).

Every URL the page uses is relative, so it works under any path prefix. Behind Home Assistant's ingress the
Supervisor's proxy sends `X-Ingress-Path` (e.g. `/api/hassio_ingress/<token>`); the page is given that as its
base URL.

Access (checked for every request, before anything else): with `trusted_proxy` set only that peer address
may connect (the add-on: the Supervisor's ingress proxy 172.30.32.2, which has authenticated the Home
Assistant user; Home Assistant's developer documentation, "Presenting your add-on", section Ingress);
with `token` set every request must carry it (header `Authorization: Bearer <token>`, or the cookie the
page sets after it was opened once as `?token=<token>`). Requests that change nothing are GET; the POST
endpoints only read from devices, want a JSON body and refuse requests a browser marks as cross-site.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from pv_collector.config import WebConfig
from pv_collector.status import StatusView
from pv_collector.web import api
from pv_collector.web.context import CONTEXT, PageContext
from pv_collector.web.tools import DeviceTools, shipped_tools

if TYPE_CHECKING:
    from pv_collector.app import Collector

_LOGGER = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
LANGUAGES = ("en", "de")
TOKEN_COOKIE = "pv_collector_token"
MAX_BODY = 16 * 1024  # bytes of a request body: the tools take a few fields
SHUTDOWN_TIMEOUT = 2.0  # seconds open requests get when the collector stops
_INGRESS_PATH = re.compile(r"^/[A-Za-z0-9_\-./]{0,200}$")
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; frame-ancestors 'self'; base-uri 'self'; form-action 'none'"
)


def choose_language(accept_language: str | None) -> str:
    """The best of LANGUAGES for an `Accept-Language` header (English when nothing matches)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        language = tag.strip().lower().split("-")[0]
        if language in LANGUAGES and quality > 0:
            ranked.append((-quality, index, language))
    return min(ranked)[2] if ranked else "en"


def ingress_base(path: str | None) -> str | None:
    """The page's base URL behind ingress (`X-Ingress-Path` + "/"), None without a usable header."""
    if not path or not _INGRESS_PATH.match(path) or ".." in path:
        return None
    return path.rstrip("/") + "/"


def _is_peer(remote: str | None, allowed: str) -> bool:
    """Whether the connection comes from `allowed` (an IPv4 peer may show as an IPv4-mapped IPv6 address)."""
    try:
        peer = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return peer == ipaddress.ip_address(allowed)


def _token_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def _presented_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return request.cookies.get(TOKEN_COOKIE)


def _refuse(request: web.Request, status: int, error: str, message: str) -> web.StreamResponse:
    if request.path.startswith("/api/"):
        return web.json_response({"error": error, "message": message}, status=status)
    return web.Response(status=status, text=message, content_type="text/plain")


def access_guard(config: WebConfig) -> Middleware:
    """The middleware enforcing `trusted_proxy`, `token` and the rules for POST (module docstring)."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if config.trusted_proxy is not None and not _is_peer(request.remote, config.trusted_proxy):
            return _refuse(request, 403, "forbidden", "only Home Assistant's ingress may open this page")
        if config.token is not None and not _token_matches(config.token, _presented_token(request)):
            given = request.query.get("token")
            if request.method == "GET" and _token_matches(config.token, given):
                rest = {key: value for key, value in request.query.items() if key != "token"}
                location = str(request.rel_url.with_query(rest))
                response = web.Response(status=302, headers={"Location": location})
                response.set_cookie(
                    TOKEN_COOKIE, config.token, httponly=True, samesite="Strict", path="/", max_age=None
                )
                return response
            return _refuse(
                request, 401, "unauthorized", "token required: open this page once as ?token=<web.token>"
            )
        if request.match_info.http_exception is not None:
            return await handler(request)  # no such route or method: 404 / 405
        if request.method not in ("GET", "HEAD"):
            if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
                return _refuse(request, 403, "forbidden", "cross-site requests are refused")
            if request.content_type != "application/json":
                return _refuse(request, 415, "invalid_request", "expected a JSON body")
        return await handler(request)

    return guard


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-cache")


async def index(request: web.Request) -> web.Response:
    """The page, with its base URL, language and whether it is shown through ingress."""
    base = ingress_base(request.headers.get("X-Ingress-Path"))
    language = choose_language(request.headers.get("Accept-Language"))
    text = (STATIC / "index.html").read_text(encoding="utf-8")
    text = text.replace("%BASE%", html.escape(base or "./", quote=True))
    text = text.replace("%LANG%", language)
    text = text.replace("%INGRESS%", "true" if base else "false")
    return web.Response(text=text, content_type="text/html", charset="utf-8")


async def _close_streams(app: web.Application) -> None:
    for task in list(app[CONTEXT].streams):
        task.cancel()


def build_app(collector: Collector, config: WebConfig, tools: DeviceTools | None = None) -> web.Application:
    """The aiohttp application of the page (used by `WebServer` and by tests)."""
    app = web.Application(middlewares=[access_guard(config)], client_max_size=MAX_BODY)
    tools = tools or shipped_tools(collector.config.profile_dirs)
    app[CONTEXT] = PageContext(collector, StatusView(collector), tools)
    app.on_response_prepare.append(_security_headers)
    app.on_shutdown.append(_close_streams)
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
    api.add_routes(app.router)
    return app


class WebServer:
    """Serves the page while the collector runs."""

    def __init__(self, collector: Collector, config: WebConfig, tools: DeviceTools | None = None) -> None:
        self.collector = collector
        self.config = config
        self.tools = tools
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Bind and serve; returns the port (useful with port 0). Raises `OSError` when the port is taken."""
        runner = web.AppRunner(
            build_app(self.collector, self.config, self.tools),
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses = runner.addresses
        self.port = int(addresses[0][1]) if addresses else self.config.port
        return self.port

    async def stop(self) -> None:
        """Close every connection (event streams included) and stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
