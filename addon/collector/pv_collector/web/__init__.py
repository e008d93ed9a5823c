"""The collector's own web page (docs/collector-page.md): served by aiohttp in the collector's process."""

from __future__ import annotations

from pv_collector.web.server import WebServer, build_app
from pv_collector.web.tools import DeviceTools, shipped_tools

__all__ = ["DeviceTools", "WebServer", "build_app", "shipped_tools"]
