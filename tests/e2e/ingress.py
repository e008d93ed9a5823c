"""Home Assistant's ingress in front of a web page, on 127.0.0.1, for tests: the path a user's browser takes.

A browser in Home Assistant opens an add-on's page at `<HA>/api/hassio_ingress/<token>/<path>`. Two proxies
stand between it and the add-on:

1. Home Assistant's own ingress view (`homeassistant.components.hassio.ingress.HassIOIngress`, the real code
   of the Home Assistant release under test) forwards to the Supervisor at `/ingress/<token>/<path>` and
   adds `X-Ingress-Path: /api/hassio_ingress/<token>`; it compresses some answers and streams the others.
2. The Supervisor (not installable here) checks the session and forwards to the add-on at
   `http://<add-on>:<ingress_port>/<path>`. `SupervisorStandIn` does what its ingress handler does with a
   request (supervisor/api/ingress.py, read at home-assistant/supervisor@00a78f3): headers passed on except
   the hop-by-hop ones, `X-Forwarded-For` extended, answers with a `Content-Length` below 4 MB returned
   whole and anything else streamed with `X-Accel-Buffering: no`. Its connections come from 127.0.0.1 (the
   real one's from 172.30.32.2).

Home Assistant's frontend fonts are served at `/static/fonts/` as Home Assistant serves them, so the page
finds them as it does inside Home Assistant. `IngressChain` runs both proxies as a process of the Home
Assistant virtualenv under test (`PV_HASS_VENV`), `python -m tests.e2e.ingress --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

import aiohttp
from aiohttp import hdrs, web

from scripts.e2e.paths import HASS_VENV, ROOT
from scripts.e2e.processes import ManagedProcess, free_port

HOST = "127.0.0.1"
SIMPLE_RESPONSE_LIMIT = 4_194_000  # bytes: the Supervisor returns smaller answers whole
_DROPPED_REQUEST = {hdrs.CONTENT_LENGTH, hdrs.CONTENT_ENCODING, hdrs.TRANSFER_ENCODING}
_DROPPED_RESPONSE = {hdrs.TRANSFER_ENCODING, hdrs.CONTENT_LENGTH, hdrs.CONTENT_TYPE, hdrs.CONTENT_ENCODING}


class SupervisorStandIn:
    """Forwards `/ingress/<token>/<path>` to the add-on's page at `target` (see the module docstring)."""

    def __init__(self, token: str, target: str, session: aiohttp.ClientSession) -> None:
        self.token = token
        self.target = target
        self.session = session

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            raise web.HTTPServiceUnavailable
        headers = {k: v for k, v in request.headers.items() if k not in _DROPPED_REQUEST}
        forwarded = request.headers.get(hdrs.X_FORWARDED_FOR)
        peer = request.remote or ""
        headers[hdrs.X_FORWARDED_FOR] = f"{forwarded}, {peer}" if forwarded else peer
        async with self.session.request(
            request.method,
            f"{self.target}/{request.match_info['path']}",
            headers=headers,
            params=request.query,
            data=await request.read(),
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=None),
            skip_auto_headers={hdrs.CONTENT_TYPE},
        ) as result:
            answer = {k: v for k, v in result.headers.items() if k not in _DROPPED_RESPONSE}
            content_type = result.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream").partition(";")[0]
            length = result.headers.get(hdrs.CONTENT_LENGTH)
            if result.status in (204, 304) or (length is not None and int(length) < SIMPLE_RESPONSE_LIMIT):
                return web.Response(
                    status=result.status, headers=answer, content_type=content_type, body=await result.read()
                )
            response = web.StreamResponse(status=result.status, headers=answer)
            response.content_type = content_type
            response.headers["X-Accel-Buffering"] = "no"
            await response.prepare(request)
            with contextlib.suppress(aiohttp.ClientError, ConnectionError):
                async for data, _ in result.content.iter_chunks():
                    await response.write(data)
            return response


async def serve(target_port: int, front_port: int, supervisor_port: int, token: str) -> None:
    """Run both proxies until cancelled."""
    import hass_frontend  # here: the Home Assistant virtualenv under test runs this
    from homeassistant.components.hassio.ingress import HassIOIngress

    fonts = Path(hass_frontend.__file__).parent / "static" / "fonts"
    async with aiohttp.ClientSession() as session:
        supervisor = SupervisorStandIn(token, f"http://{HOST}:{target_port}", session)
        back = web.Application()
        back.router.add_route("*", "/ingress/{token}/{path:.*}", supervisor.handle)

        view = HassIOIngress(f"{HOST}:{supervisor_port}", session)

        async def front_handler(request: web.Request) -> web.StreamResponse:
            return await view._handle(request, request.match_info["token"], request.match_info["path"])

        front = web.Application()
        front.router.add_route("*", "/api/hassio_ingress/{token}/{path:.*}", front_handler)
        front.router.add_static("/static/fonts/", fonts)
        runners = []
        try:
            for app, port in ((back, supervisor_port), (front, front_port)):
                runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
                await runner.setup()
                await web.TCPSite(runner, HOST, port).start()
                runners.append(runner)
            await asyncio.Event().wait()
        finally:
            for runner in reversed(runners):
                await runner.cleanup()


class IngressChain:
    """Home Assistant's ingress view -> Supervisor stand-in -> the page at http://127.0.0.1:`target_port`,
    as a process of the Home Assistant virtualenv under test."""

    def __init__(self, target_port: int, workdir: Path, token: str = "Ingress-Token_0123456789") -> None:
        self.target_port = target_port
        self.token = token
        self.front_port = free_port()
        self.supervisor_port = free_port()
        self.process = ManagedProcess(
            "ingress",
            [
                str(HASS_VENV / "bin" / "python"),
                "-m",
                "tests.e2e.ingress",
                "--target",
                str(target_port),
                "--front",
                str(self.front_port),
                "--supervisor",
                str(self.supervisor_port),
                "--token",
                token,
            ],
            workdir / "ingress.log",
            cwd=ROOT,
        )

    @property
    def url(self) -> str:
        """The page as a browser in Home Assistant opens it."""
        return f"http://{HOST}:{self.front_port}/api/hassio_ingress/{self.token}/"

    def __enter__(self) -> IngressChain:
        self.process.start()
        self.process.wait_for_port(HOST, self.front_port, 60)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.process.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Home Assistant's ingress in front of a page, for tests")
    parser.add_argument("--target", type=int, required=True, help="port of the page on 127.0.0.1")
    parser.add_argument("--front", type=int, required=True, help="port of Home Assistant's ingress view")
    parser.add_argument("--supervisor", type=int, required=True, help="port of the Supervisor stand-in")
    parser.add_argument("--token", required=True, help="the ingress token in the path")
    args = parser.parse_args()

    async def until_signal() -> None:
        task = asyncio.ensure_future(serve(args.target, args.front, args.supervisor, args.token))
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(until_signal())


if __name__ == "__main__":
    main()
