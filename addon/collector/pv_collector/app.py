"""The collector: buses, one poller per device, the MQTT publisher, commands, metrics and statistics.

`await Collector(config).run()` runs until cancelled; on the way out it publishes `offline` on the status
topic (the Last Will covers a crash), closes the gateways, the buses and the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable

from pv_collector import __version__
from pv_collector.activity import Activity, LogTap
from pv_collector.baselines import SAVE_INTERVAL, BaselineStore
from pv_collector.cache import RegisterCache
from pv_collector.clock import SYSTEM_CLOCK
from pv_collector.commands import CommandHandler
from pv_collector.config import Config
from pv_collector.datadir import DataFolder
from pv_collector.errors import CollectorError
from pv_collector.gateway import Gateway
from pv_collector.instance import check_instance, remember_instance
from pv_collector.messages import Announcement, CollectorInfo, EventMessage, StateMessage
from pv_collector.metrics import Metrics
from pv_collector.outbox import Outbox
from pv_collector.poller import DevicePoller
from pv_collector.profile import load_profile
from pv_collector.publisher import Publisher
from pv_collector.transport import Bus
from pv_collector.web import WebServer

_LOGGER = logging.getLogger(__name__)

QUEUE_EXPIRY_INTERVAL = 60.0
ANNOUNCE_COALESCE = 0.05  # seconds changes of the announcement are gathered before it is published
ANNOUNCE_COALESCE_STARTING = 1.0  # the same while a device is still being discovered
STARTUP_CONNECT_WAIT = 2.0  # seconds the first poll waits for the broker

FIRST_STATS_DELAY = 5.0  # seconds after start until the first statistics message (first cycles done)


class Collector:
    """One collector process."""

    def __init__(self, config: Config, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock  # wall clock of readings and of the sun (tests move it)
        self.instance = secrets.token_hex(6)
        self.metrics = Metrics(clock)
        self.activity = Activity(clock)  # what the web page shows: latest values, events, log lines
        self.outbox: Outbox | None = None
        self.baselines: BaselineStore | None = None
        self.folder = DataFolder(config.data_dir)
        self.buses: dict[str, Bus] = {}
        self.pollers: dict[str, DevicePoller] = {}
        self.gateways: dict[str, Gateway] = {}
        self.publisher: Publisher | None = None
        self.commands = CommandHandler(self.pollers, self.event, wall_clock=self.clock)
        self.metrics_port: int | None = None
        self.web: WebServer | None = None
        self._announce_pending = False

    # ------------------------------------------------------------------ DeviceSink

    def state(self, device_id: str, message: StateMessage) -> None:
        """Queue a state message."""
        assert self.publisher is not None
        self.activity.state(device_id, message)
        self.publisher.enqueue_state(device_id, message)

    def availability(self, device_id: str, availability: str, error: Exception | None = None) -> None:
        """Publish a device's availability (`error`: what made it offline)."""
        assert self.publisher is not None
        self.activity.availability(device_id, availability, error)
        self.publisher.set_availability(device_id, availability)

    def event(self, device_id: str, event: EventMessage) -> None:
        """Publish a device event."""
        self.activity.event(device_id, event)
        if self.publisher is not None:
            self.publisher.event(device_id, event)

    def announcement_changed(self) -> None:
        """Re-announce soon, coalescing the changes of several devices: over `ANNOUNCE_COALESCE` seconds,
        or `ANNOUNCE_COALESCE_STARTING` while a device is still being discovered (at a start with many
        devices each would otherwise re-announce them all)."""
        if self._announce_pending:
            return
        self._announce_pending = True
        starting = any(not poller.discovered for poller in self.pollers.values())
        delay = ANNOUNCE_COALESCE_STARTING if starting else ANNOUNCE_COALESCE
        asyncio.get_running_loop().call_later(delay, self._announce)

    def _announce(self) -> None:
        self._announce_pending = False
        if self.publisher is not None:
            self.publisher.announce()

    # ------------------------------------------------------------------ announcement

    def announcement(self) -> Announcement:
        """The retained announcement (contract `announcement.schema.json`)."""
        collector = CollectorInfo(
            id=self.config.collector.id,
            name=self.config.collector.name,
            version=__version__,
            instance=self.instance,
            ha_discovery=self.config.mqtt.ha_discovery.enabled,
        )
        return Announcement(
            collector=collector, devices=tuple(poller.announcement() for poller in self.pollers.values())
        )

    # ------------------------------------------------------------------ running

    def _build(self) -> None:
        config = self.config
        try:
            self.outbox = Outbox(
                config.data_dir, max_messages=config.queue.max_messages, max_age=config.queue.max_age
            )
        except OSError as err:  # validated at start; a folder that became unusable since lands here
            raise CollectorError(f"data_dir '{config.data_dir}': {err.strerror or err}") from err
        if self.outbox.open_error is not None:
            what = "the queue file (readings are queued in memory until a restart)"
            self.folder.failed(what, self.outbox.open_error)
        self.outbox.expire()
        self.baselines = BaselineStore(config.data_dir)
        for bus_config in config.buses:
            bus = Bus(bus_config, metrics=self.metrics, clock=SYSTEM_CLOCK)
            self.buses[bus_config.name] = bus
            for device in bus_config.devices:
                profile = load_profile(device.profile, config.profile_dirs)
                bus.configure_unit(device.unit_id, profile.connection)  # the device's quirks on the wire
                self.pollers[device.id] = DevicePoller(
                    device,
                    bus_config,
                    bus,
                    profile,
                    sink=self,
                    metrics=self.metrics,
                    publish=config.publish,
                    profile_dirs=config.profile_dirs,
                    clock=SYSTEM_CLOCK,
                    wall_clock=self.clock,
                    site=config.site,
                    cache=RegisterCache() if bus_config.gateway is not None else None,
                    baselines=self.baselines.device(device.id),
                )
            if bus_config.gateway is not None:
                units = bus_config.gateway.units or {
                    device.unit_id: device.id for device in bus_config.devices
                }
                self.gateways[bus_config.name] = Gateway(
                    bus,
                    bus_config.gateway,
                    {unit: self.pollers[device_id] for unit, device_id in units.items()},
                    self.metrics,
                )
        for poller in self.pollers.values():
            if poller.sleeps_at_night and config.site is None:
                _LOGGER.info(
                    "device sleeps at night but no site is configured: it is reported offline at night",
                    extra={"device": poller.id},
                )
        self.publisher = Publisher(
            config,
            self.outbox,
            self.metrics,
            announcement=self.announcement,
            on_command=self.commands.handle,
            folder=self.folder,
        )
        self.metrics.queue(len(self.outbox))

    async def run(self) -> None:
        """Run until cancelled, then shut down cleanly."""
        with LogTap(self.activity, asyncio.get_running_loop()).installed():
            await self._run()

    async def _run(self) -> None:
        config = self.config
        self._build()
        assert self.publisher is not None
        try:  # one collector per collector id (pv_collector.instance)
            await asyncio.to_thread(check_instance, config, self.instance)
        except BaseException:
            await self._shutdown()
            raise
        try:
            remember_instance(config.data_dir, self.instance)
        except OSError as err:
            self.folder.failed("the instance token", err)
        if config.metrics.enabled:
            try:
                self.metrics_port = await asyncio.to_thread(
                    self.metrics.serve, config.metrics.host, config.metrics.port
                )
            except OSError as err:
                await self._shutdown()
                where = f"{config.metrics.host}:{config.metrics.port}"
                reason = err.strerror or str(err)
                raise CollectorError(f"metrics.port: cannot serve /metrics on {where} ({reason})") from err
            url = f"http://{config.metrics.host}:{self.metrics_port}/metrics"
            _LOGGER.info("metrics served", extra={"url": url})
        try:
            await self._serve_page()
        except BaseException:
            await self._shutdown()
            raise
        _LOGGER.info(
            "collector starting",
            extra={
                "collector": config.collector.id,
                "version": __version__,
                "devices": len(self.pollers),
                "buses": len(self.buses),
                "queued": len(self.outbox or ()),
            },
        )
        try:
            for gateway in self.gateways.values():
                await gateway.start()
        except BaseException:
            await self._shutdown()
            raise
        self.publisher.start()
        with contextlib.suppress(TimeoutError):  # first readings go out live, not as "buffered"
            async with asyncio.timeout(STARTUP_CONNECT_WAIT):
                await self.publisher.wait_connected()
        tasks = [asyncio.create_task(p.run(), name=f"poll {p.id}") for p in self.pollers.values()]
        tasks.append(asyncio.create_task(self._housekeeping(), name="stats"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a poller died of a bug: surface it
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._shutdown()

    async def _serve_page(self) -> None:
        web = self.config.web
        if not web.enabled:
            return
        self.web = WebServer(self, web)
        try:
            port = await self.web.start()
        except OSError as err:
            self.web = None
            raise CollectorError(
                f"web.port: cannot serve the page on {web.host}:{web.port} ({err.strerror or err})"
            ) from None
        host = f"[{web.host}]" if ":" in web.host else web.host
        _LOGGER.info("page served", extra={"url": f"http://{host}:{port}/"})

    async def _housekeeping(self) -> None:
        assert self.publisher is not None
        interval = self.config.publish.stats_interval
        since_expiry = since_save = 0.0
        delay = min(interval, FIRST_STATS_DELAY)  # soon after start, so diagnostics are never empty for long
        while True:
            await asyncio.sleep(delay)
            delay = interval
            self.publisher.stats(self.metrics.stats())
            since_expiry += interval
            since_save += interval
            if since_expiry >= QUEUE_EXPIRY_INTERVAL:
                since_expiry = 0.0
                self.publisher.expire_queue()
            if since_save >= SAVE_INTERVAL:
                since_save = 0.0
                self._save_baselines()

    def _save_baselines(self) -> None:
        if self.baselines is None:
            return
        try:
            self.baselines.save()
        except OSError as err:
            self.folder.failed("the counter baselines", err)

    async def _shutdown(self) -> None:
        if self.web is not None:
            await self.web.stop()
            self.web = None
        for gateway in self.gateways.values():
            await gateway.stop()
        if self.publisher is not None:
            try:
                await self.publisher.stop()
            except Exception:
                _LOGGER.exception("MQTT shutdown failed")
        for bus in self.buses.values():
            with contextlib.suppress(Exception):
                await bus.close()
        self._save_baselines()
        if self.outbox is not None:
            self.outbox.close()
        self.metrics.stop()
        _LOGGER.info("collector stopped", extra={"collector": self.config.collector.id})
