"""MQTT publishing (paho-mqtt 2.x) following docs/mqtt-contract.md.

paho's network loop runs in its own thread (`loop_start`); it connects, reconnects with backoff and
calls back in that thread. Every callback is handed to the asyncio loop with `call_soon_threadsafe`, so
all collector state is touched from the event loop only. `Client.publish` is thread-safe and is called
from the event loop.

State messages go through the persisted `Outbox`: a message is deleted only after paho reports it sent
(QoS 0: written to the connection; QoS 1/2: acknowledged by the broker). Messages produced before the
current connection was established are delivered with `"buffered": true`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from pv_collector import ha_discovery
from pv_collector.config import Config, MqttConfig
from pv_collector.datadir import DataFolder
from pv_collector.messages import Announcement, EventMessage, StateMessage
from pv_collector.metrics import Metrics
from pv_collector.outbox import Outbox, QueuedMessage, QueueWriteError

_LOGGER = logging.getLogger(__name__)

RECONNECT_MIN_DELAY = 0.5
RECONNECT_MAX_DELAY = 30.0
WINDOW = 200  # queued state messages handed to paho and not yet confirmed
HA_STATUS_TOPIC = "homeassistant/status"
STOP_TIMEOUT = 3.0
CONNACK_TIMEOUT = 10.0  # seconds a broker that accepted the TCP connection has to answer MQTT CONNECT

type CommandCallback = Callable[[str, str, bytes], Coroutine[Any, Any, None]]


def dumps(message: dict[str, Any]) -> str:
    """Compact JSON as the contract wants it."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


def configure_client(client: mqtt.Client, cfg: MqttConfig) -> None:
    """Credentials and TLS of `cfg` on a paho client (the publisher's and the instance probe's)."""
    if cfg.username is not None:
        client.username_pw_set(cfg.username, cfg.password)
    if cfg.use_tls:
        client.tls_set(
            ca_certs=str(cfg.ca_file) if cfg.ca_file else None,
            certfile=str(cfg.client_cert) if cfg.client_cert else None,
            keyfile=str(cfg.client_key) if cfg.client_key else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )


def describe_connect_error(error: BaseException | None) -> str:
    """One line for a failed connection attempt (TLS, refused, unreachable); never contains credentials."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS: the broker's certificate is not trusted ({error.verify_message}); check mqtt.ca_file"
    if isinstance(error, ssl.SSLError):
        return f"TLS handshake failed ({error.reason or error}); check mqtt.ca_file/client_cert/client_key"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused: no MQTT broker listens there"
    if error is None:
        return "connection failed"
    return f"{type(error).__name__}: {error}"


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
        self.status_topic = f"{self.base}/status"
        self._announcement = announcement
        self._on_command = on_command
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: mqtt.Client | None = None
        self._connected = False
        self._stopping = False
        self._attempt = 0  # TCP connections opened to the broker
        self._awaiting_connack = False  # the current connection has not been answered yet
        self._connected_since = 0.0  # wall clock of the current connection's CONNACK
        self._ever_connected = False
        self._refused_logged = False
        self._availability: dict[str, str] = {}
        self._last_state: dict[str, str] = {}  # last state payload the broker got, per device
        self._inflight: dict[int, _InFlight] = {}  # paho mid -> queued message
        self._cursor = 0  # highest outbox id handed to paho
        self._wake = asyncio.Event()
        self._connected_event = asyncio.Event()
        self._drain_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._mids_done: dict[int, asyncio.Future[None]] = {}
        self._ha_topics = ha_discovery.DiscoveryTopics(
            base=self.base, collector_id=config.collector.id, prefix=config.mqtt.ha_discovery.prefix
        )
        self._ha_published = ha_discovery.PublishedTopics(config.data_dir)
        self._ha_status_topic = f"{config.mqtt.ha_discovery.prefix}/status"  # HA's birth message

    # ------------------------------------------------------------------ topics

    def device_topic(self, device_id: str, leaf: str) -> str:
        """`<base>/<cid>/<did>/<leaf>`."""
        return f"{self.base}/{device_id}/{leaf}"

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up (as seen from the event loop)."""
        return self._connected

    async def wait_connected(self) -> None:
        """Wait until connected (use with `asyncio.timeout`)."""
        await self._connected_event.wait()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Create the client (Last Will first), start paho's thread and connect in the background."""
        self._loop = asyncio.get_running_loop()
        cfg = self.mqtt_config
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.config.client_id,
            clean_session=True,
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=True,
        )
        client.will_set(self.status_topic, "offline", qos=cfg.qos.status, retain=True)
        configure_client(client, cfg)
        client.reconnect_delay_set(RECONNECT_MIN_DELAY, RECONNECT_MAX_DELAY)  # type: ignore[arg-type]
        client.max_queued_messages_set(0)
        client.on_connect = self._paho_connect
        client.on_connect_fail = self._paho_connect_fail
        client.on_disconnect = self._paho_disconnect
        client.on_message = self._paho_message
        client.on_publish = self._paho_publish
        client.on_socket_open = self._paho_socket_open
        self._client = client
        client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive)
        client.loop_start()
        self._drain_task = asyncio.create_task(self._drain(), name="mqtt outbox")

    async def stop(self) -> None:
        """Publish `offline` on the status topic, wait for it, disconnect and stop paho's thread."""
        if self._drain_task is not None:
            self._drain_task.cancel()
            await asyncio.gather(self._drain_task, return_exceptions=True)
            self._drain_task = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        client = self._client
        if client is None:
            return
        self._stopping = True  # the disconnect that follows is ours: no warning
        if self._connected:
            done = self._publish_tracked(self.status_topic, "offline", self.mqtt_config.qos.status, True)
            if done is not None:
                try:
                    await asyncio.wait_for(done, STOP_TIMEOUT)
                except TimeoutError:
                    _LOGGER.warning("status offline not confirmed by the broker")
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
        self._client = None
        self._connected = False

    # ------------------------------------------------------------------ publishing API

    def announce(self) -> None:
        """(Re)publish the retained announcement, then Home Assistant's standard discovery messages
        (or, with that option off, remove the ones an earlier run published)."""
        if self._connected:
            announcement = self._announcement().to_payload()
            self._publish(
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
            topic for topic in plan.clear if self._publish(topic, "", qos, True, "ha_discovery") is None
        }
        for topic, payload in plan.publish.items():
            self._publish(topic, ha_discovery.dumps(payload), qos, True, "ha_discovery")
        try:
            self._ha_published.save(plan.remember | not_cleared)
        except OSError as err:
            self.folder.failed("Home Assistant discovery topics", err)

    def set_availability(self, device_id: str, availability: str) -> None:
        """Record and publish a device's availability (`online`, `offline`, `asleep`)."""
        if self._availability.get(device_id) == availability:
            return
        self._availability[device_id] = availability
        if self._connected:
            self._publish(
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
            if self._connected and self._publish(topic, err.payload, qos, True, "state") is not None:
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
        if self._connected:
            self._publish(
                self.device_topic(device_id, "event"),
                dumps(event.to_payload()),
                self.mqtt_config.qos.commands,
                False,
                "event",
            )

    def stats(self, stats: dict[str, Any]) -> None:
        """Publish the collector statistics (retained)."""
        if self._connected:
            self._publish(f"{self.base}/stats", dumps(stats), self.mqtt_config.qos.state, True, "stats")

    def expire_queue(self) -> None:
        """Drop queued messages older than the queue's max_age."""
        if self.outbox.expire():
            self._report_queue()

    # ------------------------------------------------------------------ internals: publishing

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

    def _publish(
        self, topic: str, payload: str, qos: int, retain: bool, kind: str
    ) -> mqtt.MQTTMessageInfo | None:
        client = self._client
        if client is None:
            return None
        try:
            info = client.publish(topic, payload, qos=qos, retain=retain)
        except (ValueError, RuntimeError) as err:
            self.metrics.error("publish")
            _LOGGER.error("publish refused", extra={"topic": topic, "error": str(err)})
            return None
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.metrics.error("publish")
            return None
        self.metrics.published(kind)
        return info

    def _publish_tracked(
        self, topic: str, payload: str, qos: int, retain: bool
    ) -> asyncio.Future[None] | None:
        assert self._loop is not None
        info = self._publish(topic, payload, qos, retain, "status")
        if info is None:
            return None
        future: asyncio.Future[None] = self._loop.create_future()
        self._mids_done[info.mid] = future
        if info.is_published():
            self._mids_done.pop(info.mid, None)
            future.set_result(None)
        return future

    async def _drain(self) -> None:
        """Hand queued state messages to paho, oldest first, at most WINDOW unconfirmed."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._connected and len(self._inflight) < WINDOW:
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
        client = self._client
        assert client is not None
        for message in batch:
            payload = message.payload
            if message.created < self._connected_since:
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

    def _published(self, mid: int) -> None:
        entry = self._inflight.pop(mid, None)
        if entry is not None:
            self.outbox.ack(entry.message.id)
            self._last_state[entry.message.device] = entry.message.payload
            self.metrics.published("state")
            self._report_queue()
            self._wake.set()
            return
        future = self._mids_done.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _on_connected(self) -> None:
        self._connected = True
        self._awaiting_connack = False
        self._connected_since = time.time()
        self._connected_event.set()
        reconnected = self._ever_connected
        if not self._ever_connected:
            _LOGGER.info(
                "connected to the MQTT broker",
                extra={"broker": f"{self.mqtt_config.host}:{self.mqtt_config.port}"},
            )
        else:
            _LOGGER.info("reconnected to the MQTT broker", extra={"queued": len(self.outbox)})
        self._ever_connected = True
        self._refused_logged = False
        qos = self.mqtt_config.qos
        self._publish(self.status_topic, "online", qos.status, True, "status")
        self.announce()
        queued = self.outbox.queued_devices()
        for device_id, availability in self._availability.items():
            self._publish(
                self.device_topic(device_id, "availability"), availability, qos.status, True, "availability"
            )
            last = self._last_state.get(device_id)
            if last is not None and device_id not in queued:
                self._publish(self.device_topic(device_id, "state"), last, qos.state, True, "state")
        if reconnected:  # a restarted broker may have lost the retained statistics
            self.stats(self.metrics.stats())
        self._wake.set()

    def _on_disconnected(self, reason: str) -> None:
        was_connected = self._connected
        self._connected = False
        if self._awaiting_connack and not self._stopping:
            self._awaiting_connack = False
            self._mute_broker(f"it closed the connection before answering MQTT CONNECT ({reason})")
        self._connected_event.clear()
        # QoS 0 messages not yet written are gone from paho: send them again after reconnecting.
        # QoS 1/2 messages stay in paho's session and are resent by paho itself.
        lost = [mid for mid, entry in self._inflight.items() if entry.message.qos == 0]
        if lost:
            self._cursor = min(self._inflight[mid].message.id for mid in lost) - 1
            for mid in lost:
                del self._inflight[mid]
        if was_connected and self._stopping:
            _LOGGER.info("disconnected from the MQTT broker", extra={"reason": "the collector is stopping"})
        elif was_connected:
            _LOGGER.warning("lost the MQTT broker", extra={"reason": reason, "queued": len(self.outbox)})

    def _on_message(self, topic: str, payload: bytes) -> None:
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

    # ------------------------------------------------------------------ paho thread callbacks

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(callback, *args)

    def _paho_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        if reason.is_failure:  # e.g. "Not authorized": paho retries with backoff
            self._call(self._on_refused, str(reason))
            return
        qos = self.mqtt_config.qos.commands
        topics = [(f"{self.base}/+/set/+", qos), (HA_STATUS_TOPIC, 1)]
        if self._ha_status_topic != HA_STATUS_TOPIC:  # discovery under another prefix: its birth message
            topics.append((self._ha_status_topic, 1))
        client.subscribe(topics)
        self._call(self._on_connected)

    def _on_refused(self, reason: str) -> None:
        self._awaiting_connack = False  # it did answer: with a refusal
        self.metrics.error("mqtt_connect")
        if not self._refused_logged:
            self._refused_logged = True
            _LOGGER.error(
                "the MQTT broker refused the connection; retrying with backoff",
                extra={
                    "broker": f"{self.mqtt_config.host}:{self.mqtt_config.port}",
                    "reason": reason,
                    "max_delay": RECONNECT_MAX_DELAY,
                },
            )

    def _paho_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._call(self._on_socket_open)

    def _on_socket_open(self) -> None:
        """The TCP connection is up and CONNECT sent: the broker has CONNACK_TIMEOUT seconds to answer."""
        self._attempt += 1
        self._awaiting_connack = True
        assert self._loop is not None
        self._loop.call_later(CONNACK_TIMEOUT, self._connack_overdue, self._attempt)

    def _connack_overdue(self, attempt: int) -> None:
        if attempt != self._attempt or not self._awaiting_connack or self._stopping:
            return
        self._awaiting_connack = False
        self._mute_broker(
            f"it accepted the connection but did not answer MQTT CONNECT within {CONNACK_TIMEOUT:g} s"
        )
        sock = self._client.socket() if self._client is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):  # paho sees the connection end and reconnects with its backoff
                sock.shutdown(socket.SHUT_RDWR)

    def _mute_broker(self, error: str) -> None:
        """A broker that takes connections but never answers them: one error per episode, then backoff."""
        self.metrics.error("mqtt_connect")
        if not self._refused_logged:
            self._refused_logged = True
            _LOGGER.error(
                "the MQTT broker does not answer; retrying with backoff",
                extra={
                    "broker": f"{self.mqtt_config.host}:{self.mqtt_config.port}",
                    "error": error,
                    "max_delay": RECONNECT_MAX_DELAY,
                },
            )

    def _paho_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # Called inside paho's `except OSError:` block: the exception is the current one.
        self._call(self._on_connect_failed, describe_connect_error(sys.exception()))

    def _on_connect_failed(self, error: str) -> None:
        self.metrics.error("mqtt_connect")
        if not self._refused_logged:
            self._refused_logged = True
            _LOGGER.error(
                "cannot connect to the MQTT broker; retrying with backoff",
                extra={
                    "broker": f"{self.mqtt_config.host}:{self.mqtt_config.port}",
                    "error": error,
                    "max_delay": RECONNECT_MAX_DELAY,
                },
            )

    def _paho_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        self._call(self._on_disconnected, str(reason))

    def _paho_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._call(self._on_message, message.topic, bytes(message.payload))

    def _paho_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Any
    ) -> None:
        self._call(self._published, mid)
