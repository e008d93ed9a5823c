"""A small synchronous client of Home Assistant's public REST and WebSocket APIs.

Used by the demo (onboarding, config entries, dashboard) and by the end-to-end tests (states, services,
registries). REST goes through urllib; each WebSocket exchange opens one authenticated connection.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import aiohttp

type Json = Any


class HassApiError(RuntimeError):
    """Home Assistant answered a request with an error."""


@dataclass
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    client_id: str


@dataclass
class HassClient:
    """`base_url` like http://127.0.0.1:8123; `token` is a bearer token (long-lived or access)."""

    base_url: str
    token: str | None = None
    timeout: float = 30.0

    # ---------------------------------------------------------------- REST
    def request(
        self,
        method: str,
        path: str,
        body: Json = None,
        *,
        form: dict[str, str] | None = None,
        auth: bool = True,
        ok: tuple[int, ...] = (200, 201),
    ) -> Json:
        headers = {"Accept": "application/json"}
        data: bytes | None = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            if not self.token:
                raise HassApiError(f"{method} {path}: no token yet")
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        if status not in ok:
            raise HassApiError(f"{method} {path} -> HTTP {status}: {raw[:500]!r}")
        return json.loads(raw) if raw else None

    def get(self, path: str) -> Json:
        return self.request("GET", path)

    def post(self, path: str, body: Json = None) -> Json:
        return self.request("POST", path, {} if body is None else body)

    def api_running(self) -> bool:
        """True once hass answers HTTP (400 "onboarding required" counts: the server is up)."""
        try:
            self.request("GET", "/auth/providers", auth=False, ok=(200, 400))
        except (OSError, HassApiError):
            return False
        return True

    # ---------------------------------------------------------------- auth
    def onboarding_status(self) -> dict[str, bool]:
        try:
            steps = self.request("GET", "/api/onboarding", auth=False)
        except HassApiError as err:
            if "HTTP 404" in str(err):  # onboarding finished: the view is not registered any more
                return {"user": True, "core_config": True, "analytics": True, "integration": True}
            raise
        return {step["step"]: step["done"] for step in steps}

    def onboard(self, name: str, username: str, password: str, language: str = "en") -> Tokens:
        """Run every onboarding step over REST; returns the owner's tokens."""
        client_id = self.base_url + "/"
        created = self.request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": client_id,
                "name": name,
                "username": username,
                "password": password,
                "language": language,
            },
            auth=False,
        )
        tokens = self.exchange_code(created["auth_code"], client_id)
        self.token = tokens.access_token
        self.finish_onboarding(self.onboarding_status())  # steps marked done beforehand are skipped
        return tokens

    def finish_onboarding(self, done: dict[str, bool]) -> None:
        """The onboarding steps after the user step that are not `done` yet (needs a token)."""
        client_id = self.base_url + "/"
        if not done.get("core_config"):
            self.post("/api/onboarding/core_config")
        if not done.get("analytics"):
            self.post("/api/onboarding/analytics")
        if not done.get("integration"):
            self.post("/api/onboarding/integration", {"client_id": client_id, "redirect_uri": client_id})

    def token_valid(self) -> bool:
        try:
            self.get("/api/")
        except (OSError, HassApiError):
            return False
        return True

    def exchange_code(self, code: str, client_id: str) -> Tokens:
        answer = self.request(
            "POST",
            "/auth/token",
            form={"grant_type": "authorization_code", "code": code, "client_id": client_id},
            auth=False,
        )
        return Tokens(answer["access_token"], answer["refresh_token"], int(answer["expires_in"]), client_id)

    def login(self, username: str, password: str) -> Tokens:
        """Log in like the frontend does (login flow, then code -> tokens)."""
        client_id = self.base_url + "/"
        flow = self.request(
            "POST",
            "/auth/login_flow",
            {"client_id": client_id, "handler": ["homeassistant", None], "redirect_uri": client_id},
            auth=False,
        )
        result = self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": client_id, "username": username, "password": password},
            auth=False,
        )
        if result.get("type") != "create_entry":
            raise HassApiError(f"login as {username!r} failed: {result.get('errors') or result}")
        return self.exchange_code(result["result"], client_id)

    def create_long_lived_token(self, name: str) -> str:
        return str(self.ws("auth/long_lived_access_token", client_name=name, lifespan=3650))

    # ---------------------------------------------------------------- states and services
    def states(self) -> dict[str, dict[str, Any]]:
        return {state["entity_id"]: state for state in self.get("/api/states")}

    def state(self, entity_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.get(f"/api/states/{entity_id}"))
        except HassApiError as err:
            if "HTTP 404" in str(err):
                return None
            raise

    def call_service(self, domain: str, service: str, data: dict[str, Any]) -> Json:
        return self.post(f"/api/services/{domain}/{service}", data)

    # ---------------------------------------------------------------- config entries and flows
    def config_entries(self, domain: str | None = None) -> list[dict[str, Any]]:
        entries = list(self.get("/api/config/config_entries/entry"))
        return [entry for entry in entries if domain is None or entry["domain"] == domain]

    def delete_config_entry(self, entry_id: str) -> None:
        self.request("DELETE", f"/api/config/config_entries/entry/{entry_id}")

    def start_flow(self, handler: str) -> dict[str, Any]:
        return dict(
            self.post("/api/config/config_entries/flow", {"handler": handler, "show_advanced_options": False})
        )

    def flow_step(self, flow_id: str, user_input: dict[str, Any]) -> dict[str, Any]:
        return dict(self.post(f"/api/config/config_entries/flow/{flow_id}", user_input))

    def flows_in_progress(self) -> list[dict[str, Any]]:
        return list(self.ws("config_entries/flow/progress"))

    # ---------------------------------------------------------------- registries and dashboards
    def entity_registry(self) -> list[dict[str, Any]]:
        return list(self.ws("config/entity_registry/list"))

    def device_registry(self) -> list[dict[str, Any]]:
        return list(self.ws("config/device_registry/list"))

    def dashboards(self) -> list[dict[str, Any]]:
        return list(self.ws("lovelace/dashboards/list"))

    # ---------------------------------------------------------------- WebSocket
    def ws(self, command_type: str, **fields: Any) -> Json:
        """Send one WebSocket command; returns its `result` or raises HassApiError."""
        return self.ws_many([{"type": command_type, **fields}])[0]

    def ws_many(self, commands: list[dict[str, Any]]) -> list[Json]:
        return asyncio.run(self._ws_many(commands))

    async def _ws_many(self, commands: list[dict[str, Any]]) -> list[Json]:
        if not self.token:
            raise HassApiError("WebSocket: no token yet")
        url = self.base_url.replace("http", "ws", 1) + "/api/websocket"
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.ws_connect(url) as sock:
            hello = await sock.receive_json()
            if hello.get("type") != "auth_required":
                raise HassApiError(f"WebSocket: unexpected greeting {hello}")
            await sock.send_json({"type": "auth", "access_token": self.token})
            answer = await sock.receive_json()
            if answer.get("type") != "auth_ok":
                raise HassApiError(f"WebSocket auth failed: {answer}")
            results: list[Json] = []
            for number, command in enumerate(commands, start=1):
                await sock.send_json({"id": number, **command})
                while True:
                    message = await sock.receive_json()
                    if message.get("id") == number and message.get("type") == "result":
                        break
                if not message.get("success"):
                    raise HassApiError(f"WebSocket {command['type']} failed: {message.get('error')}")
                results.append(message.get("result"))
            return results
