"""What the page's handlers share: the collector, its status view, its tools and the open event streams."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pv_collector.status import StatusView
from pv_collector.web.tools import DeviceTools

if TYPE_CHECKING:
    from pv_collector.app import Collector


@dataclass(slots=True)
class PageContext:
    """What the handlers need: the collector, its status view, its tools, the open event streams."""

    collector: Collector
    view: StatusView
    tools: DeviceTools
    explorer_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    record_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    streams: set[asyncio.Task[Any]] = field(default_factory=set)


CONTEXT = web.AppKey("context", PageContext)


def dumps(data: Any) -> str:
    """Compact JSON."""
    return json.dumps(data, separators=(",", ":"))
