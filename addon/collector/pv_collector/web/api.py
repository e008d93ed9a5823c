"""The page's JSON endpoints and its event stream (see `pv_collector.web.server` for the list).

Handlers only read: the status view, `Activity`, and for the explorer and the recorder the devices, through
their bus like every poll. Refusals are JSON `{"error": <code>, "message": <one line>}` with a 4xx status;
a tool this version does not have answers 501 `{"error": "not_available", "feature": <tool>}`.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from aiohttp import web

from pv_collector.activity import failure_reason
from pv_collector.errors import CollectorError, ModbusError, RequestRefused
from pv_collector.explorer import explore, parse_request
from pv_collector.status import UnknownDevice
from pv_collector.web.context import CONTEXT, PageContext, dumps

STATUS_INTERVAL = 2.0  # seconds between two overviews on the event stream (it is also its keep-alive)
RETRY_MS = 2000  # how soon a browser reconnects a lost event stream


def _context(request: web.Request) -> PageContext:
    return request.app[CONTEXT]


def _overview(context: PageContext) -> dict[str, Any]:
    overview = asdict(context.view.overview())
    overview["features"] = context.tools.features()
    return overview


def _refused(err: RequestRefused) -> web.Response:
    status = 404 if err.code in ("unknown_device", "unknown_bus") else 400
    return web.json_response({"error": err.code, "message": str(err)}, status=status)


def _not_available(feature: str) -> web.Response:
    return web.json_response(
        {
            "error": "not_available",
            "feature": feature,
            "message": f"{feature} is not available in this version",
        },
        status=501,
    )


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except (ValueError, UnicodeDecodeError):
        raise RequestRefused("invalid_request", "the body is not valid JSON") from None


async def status(request: web.Request) -> web.Response:
    """`GET api/status`: the overview."""
    return web.json_response(_overview(_context(request)), dumps=dumps)


async def device(request: web.Request) -> web.Response:
    """`GET api/devices/<id>`: one device in detail."""
    context = _context(request)
    device_id = request.match_info["device_id"]
    try:
        detail = context.view.device(device_id)
    except UnknownDevice:
        return _refused(RequestRefused("unknown_device", f"{device_id!r} is not a device of this collector"))
    return web.json_response(detail, dumps=dumps)


async def log(request: web.Request) -> web.Response:
    """`GET api/log[?device=<id>]`: the recent log lines, oldest first."""
    device_id = request.query.get("device") or None
    lines = _context(request).collector.activity.log_lines(device_id)
    return web.json_response({"lines": lines}, dumps=dumps)


async def _send(response: web.StreamResponse, kind: str, data: Any) -> None:
    await response.write(f"event: {kind}\ndata: {dumps(data)}\n\n".encode())


async def events(request: web.Request) -> web.StreamResponse:
    """`GET api/events`: server-sent events until the browser goes away or the collector stops."""
    context = _context(request)
    activity = context.collector.activity
    response = web.StreamResponse(headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.content_type = "text/event-stream"
    await response.prepare(request)
    listener = activity.subscribe()
    task = asyncio.current_task()
    if task is not None:
        context.streams.add(task)
    loop = asyncio.get_running_loop()
    try:
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        await _send(response, "status", _overview(context))
        next_status = loop.time() + STATUS_INTERVAL
        while True:
            if listener.lagged:  # fell behind: start over from a fresh overview
                listener.queue = asyncio.Queue(listener.queue.maxsize)
                listener.lagged = False
                await _send(response, "resync", {})
                await _send(response, "status", _overview(context))
                next_status = loop.time() + STATUS_INTERVAL
            try:
                async with asyncio.timeout(max(0.0, next_status - loop.time())):
                    change = await listener.queue.get()
            except TimeoutError:
                change = None
            if change is not None:
                await _send(response, change["type"], change)
            if change is None or change["type"] == "availability" or loop.time() >= next_status:
                await _send(response, "status", _overview(context))
                next_status = loop.time() + STATUS_INTERVAL
    except ConnectionResetError:
        pass  # the browser went away
    finally:
        activity.unsubscribe(listener)
        if task is not None:
            context.streams.discard(task)
    return response


async def explorer(request: web.Request) -> web.Response:
    """`POST api/explorer`: read one bounded range (never a write) and decode it."""
    context = _context(request)
    collector = context.collector
    devices = {p.id: (p.bus.name, p.device.unit_id) for p in collector.pollers.values()}
    try:
        wanted = parse_request(await _json_body(request), devices=devices, buses=list(collector.buses))
    except RequestRefused as err:
        return _refused(err)
    poller = collector.pollers.get(wanted.device or "") or next(
        (
            p
            for p in collector.pollers.values()
            if p.bus.name == wanted.bus and p.device.unit_id == wanted.unit_id
        ),
        None,
    )
    points = list(poller.points.values()) if poller is not None else []
    factors = {
        key: value
        for key, value in (poller.values.items() if poller is not None else ())
        if isinstance(value, int) and not isinstance(value, bool)
    }
    async with context.explorer_lock:  # one explorer read at a time, whoever asks
        result = await explore(collector.buses[wanted.bus], wanted, points, factors)
    return web.json_response(result, dumps=dumps)


async def record(request: web.Request) -> web.Response:
    """`POST api/devices/<id>/record`: a register image of the device, as a file to download."""
    context = _context(request)
    if context.tools.record is None:
        return _not_available("record")
    device_id = request.match_info["device_id"]
    try:
        poller = context.view.poller(device_id)
    except UnknownDevice:
        return _refused(RequestRefused("unknown_device", f"{device_id!r} is not a device of this collector"))
    lock = context.record_locks.setdefault(device_id, asyncio.Lock())
    if lock.locked():
        return web.json_response(
            {"error": "busy", "message": f"{device_id} is being recorded already"}, status=409
        )
    async with lock:
        try:
            image = await context.tools.record(poller)
        except ModbusError as err:
            reason, message = failure_reason(err)
            return web.json_response({"error": reason, "message": message}, status=502)
        except CollectorError as err:
            return web.json_response({"error": "failed", "message": str(err)}, status=502)
    return web.Response(
        text=image.text,
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{image.filename}"'},
    )


async def identify(request: web.Request) -> web.Response:
    """`POST api/identify` `{"bus": ..., "unit_id": ...}`: what answers there, and its configuration."""
    context = _context(request)
    if context.tools.identify is None:
        return _not_available("identify")
    collector = context.collector
    try:
        data = await _json_body(request)
        bus = data.get("bus") if isinstance(data, dict) else None
        if bus not in collector.buses:
            raise RequestRefused("unknown_bus", f"bus: {bus!r} is not a bus of this collector")
        unit_id = data.get("unit_id")
        if isinstance(unit_id, bool) or not isinstance(unit_id, int) or not 0 <= unit_id <= 255:
            raise RequestRefused("invalid_request", f"unit_id: expected 0..255, got {unit_id!r}")
    except RequestRefused as err:
        return _refused(err)
    try:
        found = await context.tools.identify(collector.buses[bus], unit_id)
    except ModbusError as err:
        reason, message = failure_reason(err)
        return web.json_response({"error": reason, "message": message}, status=502)
    except CollectorError as err:
        return web.json_response({"error": "failed", "message": str(err)}, status=502)
    return web.json_response(asdict(found), dumps=dumps)


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the endpoints (relative to the page)."""
    router.add_get("/api/status", status)
    router.add_get("/api/devices/{device_id}", device)
    router.add_get("/api/log", log)
    router.add_get("/api/events", events)
    router.add_post("/api/explorer", explorer)
    router.add_post("/api/devices/{device_id}/record", record)
    router.add_post("/api/identify", identify)
