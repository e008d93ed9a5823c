"""What the collector publishes over MQTT, following docs/mqtt-contract.md: the announcement, availability,
states, events, statistics and Home Assistant's standard discovery; and the commands it receives. The
connection itself, and the paho thread, are pv_collector.mqtt_link's; everything here runs in the event loop.

State messages go through the persisted `Outbox`: a message is deleted only after paho reports it sent
(QoS 0: written to the connection; QoS 1/2: acknowledged by the broker). Messages produced before the
current connection was established are delivered with `"buffered": true`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from paho.mqtt.enums import MQTTErrorCode

from pv_collector import ha_discovery
from pv_collector.config import Config
from pv_collector.datadir import DataFolder
from pv_collector.messages import Announcement, EventMessage, StateMessage, StatsMessage
from pv_collector.metrics import Metrics
from pv_collector.mqtt_link import MqttLink
from pv_collector.outbox import Outbox, QueuedMessage, QueueWriteError

_LOGGER = logging.getLogger(__name__)

WINDOW = 200  # queued state messages handed to paho and not yet confirmed
HA_STATUS_TOPIC = "homeassistant/status"

type CommandCallback = Callable[[str, str, bytes], Coroutine[Any, Any, None]]


def dumps(message: dict[str, Any]) -> str:
    """Compact JSON as the contract wants it."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


@dataclass(slots=True)
class _InFlight:
    message: QueuedMessage


class Publisher:
    """The collector's MQTT side: status, announcement, availability, states, events, stats, commands."""

    def __init__(
        self,
        config: Config,
        outbox: Outbox,
        metrics: Metrics,
        *,
        announcement: Callable[[], Announcement],
        on_command: CommandCallback,
        folder: DataFolder | None = None,
    ) -> None:
        self.config = config
        self.folder = folder or DataFolder(config.data_dir)
        self.mqtt_config = config.mqtt
        self.outbox = outbox
        self.metrics = metrics
        self.base = f"{config.mqtt.base_topic}/{config.collector.id}"
        self._announcement = announcement
        self._on_command = on_command
        self._availability: dict[str, str] = {}
        self._last_state: dict[str, str] = {}  # last state payload the broker got, per device
        self._inflight: dict[int, _InFlight] = {}  # paho mid -> queued message
        self._cursor = 0  # highest outbox id handed to paho
        self._wake = asyncio.Event()
        self._drain_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ha_topics = ha_discovery.DiscoveryTopics(
            base=self.base, collector_id=config.collector.id, prefix=config.mqtt.ha_discovery.prefix
        )
        self._ha_published = ha_discovery.PublishedTopics(config.data_dir)
        self._ha_status_topic = f"{config.mqtt.ha_discovery.prefix}/status"  # HA's birth message
        subscriptions = [(f"{self.base}/+/set/+", config.mqtt.qos.commands), (HA_STATUS_TOPIC, 1)]
        if self._ha_status_topic != HA_STATUS_TOPIC:  # discovery under another prefix: its birth message
            subscriptions.append((self._ha_status_topic, 1))
        self.link = MqttLink(
            config, metrics, self, status_topic=f"{self.base}/status", subscriptions=subscriptions
        )

    # ------------------------------------------------------------------ topics

    def device_topic(self, device_id: str, leaf: str) -> str:
        """`<base>/<cid>/<did>/<leaf>`."""
        return f"{self.base}/{device_id}/{leaf}"

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up (as seen from the event loop)."""
        return self.link.connected

    async def wait_connected(self) -> None:
        """Wait until connected (use with `asyncio.timeout`)."""
        await self.link.wait_connected()

    @property
    def queued(self) -> int:
        """State messages waiting in the queue."""
        return len(self.outbox)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Connect in the background (pv_collector.mqtt_link) and start sending the queue."""
        self.link.start()
        self._drain_task = asyncio.create_task(self._drain(), name="mqtt outbox")

    async def stop(self) -> None:
        """Stop sending and handling commands; publish `offline`, disconnect (the link's `stop`)."""
        if self._drain_task is not None:
            self._drain_task.cancel()
            await asyncio.gather(self._drain_task, return_exceptions=True)
            self._drain_task = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.link.stop()

    # ------------------------------------------------------------------ publishing API

    def announce(self) -> None:
        """(Re)publish the retained announcement, then Home Assistant's standard discovery messages
        (or, with that option off, remove the ones an earlier run published)."""
        if self.link.connected:
            announcement = self._announcement().to_payload()
            self.link.publish(
                f"{self.base}/config",
                dumps(announcement),
                self.mqtt_config.qos.discovery,
                True,
                "config",
            )
            self._publish_ha_discovery(announcement)

    def _publish_ha_discovery(self, announcement: dict[str, Any]) -> None:
        """Publish `ha_discovery.plan`: empty retained payloads clear what is gone; remember the rest."""
        option = self.mqtt_config.ha_discovery
        previous = self._ha_published.load()
        if not option.enabled and not previous:
            return
        plan = ha_discovery.plan(
            self._ha_topics, announcement, previous, enabled=option.enabled, qos=self.mqtt_config.qos.state
        )
        qos = self.mqtt_config.qos.discovery
        not_cleared = {
            topic for topic in plan.clear if self.link.publish(topic, "", qos, True, "ha_discovery") is None
        }
        for topic, payload in plan.publish.items():
            self.link.publish(topic, ha_discovery.dumps(payload), qos, True, "ha_discovery")
        try:
            self._ha_published.save(plan.remember | not_cleared)
        except OSError as err:
            self.folder.failed("Home Assistant discovery topics", err)

    def set_availability(self, device_id: str, availability: str) -> None:
        """Record and publish a device's availability (`online`, `offline`, `asleep`)."""
        if self._availability.get(device_id) == availability:
            return
        self._availability[device_id] = availability
        if self.link.connected:
            self.link.publish(
                self.device_topic(device_id, "availability"),
                availability,
                self.mqtt_config.qos.status,
                True,
                "availability",
            )

    def enqueue_state(self, device_id: str, message: StateMessage) -> QueuedMessage | None:
        """Queue a state message (gets its `seq` here) and wake the sender. When the data folder cannot take
        it (full disk), it is published live instead, or, with the broker away, lost; either way counted
        (`errors.queue_write`; lost ones in `queue_dropped`) and reported once per episode."""
        topic = self.device_topic(device_id, "state")
        qos = self.mqtt_config.qos.state
        try:
            queued = self.outbox.put(device_id, topic, message.to_payload(), qos=qos)
        except QueueWriteError as err:
            self.metrics.error("queue_write")
            self.folder.failed("queued readings", err.cause)
            if self.link.connected and self.link.publish(topic, err.payload, qos, True, "state") is not None:
                self._last_state[device_id] = err.payload
            else:
                self.metrics.queue(len(self.outbox), 1)
            return None
        self.folder.written()
        self._report_queue()
        self._wake.set()
        return queued

    def event(self, device_id: str, event: EventMessage) -> None:
        """Publish a device event (not retained; lost while the broker is away)."""
        if self.link.connected:
            self.link.publish(
                self.device_topic(device_id, "event"),
                dumps(event.to_payload()),
                self.mqtt_config.qos.commands,
                False,
                "event",
            )

    def stats(self, stats: StatsMessage) -> None:
        """Publish the collector statistics (retained)."""
        if self.link.connected:
            payload = dumps(stats.to_payload())
            self.link.publish(f"{self.base}/stats", payload, self.mqtt_config.qos.state, True, "stats")

    def expire_queue(self) -> None:
        """Drop queued messages older than the queue's max_age."""
        if self.outbox.expire():
            self._report_queue()

    # ------------------------------------------------------------------ internals: the queue

    _reported_dropped = 0
    _drop_logged = False

    def _report_queue(self) -> None:
        """Queue length and drops to the metrics; the first drop of a full-queue episode is logged."""
        dropped = self._take_dropped()
        self.metrics.queue(len(self.outbox), dropped)
        if dropped and not self._drop_logged:
            self._drop_logged = True
            _LOGGER.warning(
                "queue full or too old: dropping the oldest readings (counted in queue_dropped)",
                extra={
                    "max_messages": self.outbox.max_messages,
                    "max_age": self.outbox.max_age,
                    "queued": len(self.outbox),
                },
            )
        elif self._drop_logged and len(self.outbox) == 0:
            self._drop_logged = False  # drained: log the next episode again

    def _take_dropped(self) -> int:
        new = self.outbox.dropped - self._reported_dropped
        self._reported_dropped = self.outbox.dropped
        return new

    async def _drain(self) -> None:
        """Hand queued state messages to paho, oldest first, at most WINDOW unconfirmed."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.link.connected and len(self._inflight) < WINDOW:
                busy = {entry.message.id for entry in self._inflight.values()}
                batch = [
                    message
                    for message in self.outbox.pending(self._cursor, WINDOW - len(self._inflight))
                    if message.id not in busy
                ]
                if not batch:
                    break
                if not self._send_batch(batch):
                    break

    def _send_batch(self, batch: list[QueuedMessage]) -> bool:
        client = self.link.client
        assert client is not None
        for message in batch:
            payload = message.payload
            if message.created < self.link.connected_since:
                payload = payload[:-1] + ',"buffered":true}'
            try:
                info = client.publish(message.topic, payload, qos=message.qos, retain=message.retain)
            except ValueError as err:  # cannot happen with our topics; never block the queue on it
                _LOGGER.error("queued message refused", extra={"topic": message.topic, "error": str(err)})
                self.outbox.ack(message.id)
                continue
            if message.qos == 0 and info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return False  # not connected: stays queued, sent again after the next connect
            self._inflight[info.mid] = _InFlight(message)
            self._cursor = message.id
        return True

    # ------------------------------------------------------------------ what the link tells (LinkListener)

    def message_sent(self, mid: int) -> None:
        """paho has sent message `mid`: a queued state message leaves the queue."""
        entry = self._inflight.pop(mid, None)
        if entry is not None:
            self.outbox.ack(entry.message.id)
            self._last_state[entry.message.device] = entry.message.payload
            self.metrics.published("state")
            self._report_queue()
            self._wake.set()

    def connection_made(self, reconnected: bool) -> None:
        """The link is up (and `online` published): announce, then what the broker may have lost."""
        qos = self.mqtt_config.qos
        self.announce()
        queued = self.outbox.queued_devices()
        for device_id, availability in self._availability.items():
            self.link.publish(
                self.device_topic(device_id, "availability"), availability, qos.status, True, "availability"
            )
            last = self._last_state.get(device_id)
            if last is not None and device_id not in queued:
                self.link.publish(self.device_topic(device_id, "state"), last, qos.state, True, "state")
        if reconnected:  # a restarted broker may have lost the retained statistics
            self.stats(self.metrics.stats())
        self._wake.set()

    def connection_lost(self) -> None:
        """The broker is away: what paho had not written yet is sent again after the next connect."""
        # QoS 0 messages not yet written are gone from paho: send them again after reconnecting.
        # QoS 1/2 messages stay in paho's session and are resent by paho itself.
        lost = [mid for mid, entry in self._inflight.items() if entry.message.qos == 0]
        if lost:
            self._cursor = min(self._inflight[mid].message.id for mid in lost) - 1
            for mid in lost:
                del self._inflight[mid]

    def message_received(self, topic: str, payload: bytes) -> None:
        """Home Assistant's birth message (announce again) or a command (`<did>/set/<point>`)."""
        if topic in (HA_STATUS_TOPIC, self._ha_status_topic):
            if payload.strip() == b"online":
                _LOGGER.info("Home Assistant started: announcing again")
                self.announce()
            return
        prefix = f"{self.base}/"
        if not topic.startswith(prefix):
            return
        parts = topic[len(prefix) :].split("/")
        if len(parts) != 3 or parts[1] != "set":  # <did>/set/<point>
            return
        task = asyncio.create_task(self._on_command(parts[0], parts[2], payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
