"""The collector's connection to the MQTT broker (paho-mqtt 2.x): the client with its Last Will, credentials
and TLS, connecting and reconnecting with backoff, and the brokers that refuse or never answer.

paho's network loop runs in its own thread (`loop_start`); it connects, reconnects with backoff and
calls back in that thread. Every callback is handed to the asyncio loop with `call_soon_threadsafe`, so
all collector state is touched from the event loop only. `Client.publish` is thread-safe and is called
from the event loop. What is published, and what a received message means, is the publisher's
(pv_collector.publisher): the link tells it when the connection is up or down, what arrived and which
message paho has sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from pv_collector.config import Config, MqttConfig
from pv_collector.metrics import Metrics

# The connection's log lines keep the logger name they had when the publisher kept the connection too.
_LOGGER = logging.getLogger("pv_collector.publisher")

RECONNECT_MIN_DELAY = 0.5
RECONNECT_MAX_DELAY = 30.0
STOP_TIMEOUT = 3.0
CONNACK_TIMEOUT = 10.0  # seconds a broker that accepted the TCP connection has to answer MQTT CONNECT


def configure_client(client: mqtt.Client, cfg: MqttConfig) -> None:
    """Credentials and TLS of `cfg` on a paho client (the link's and the instance probe's)."""
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


class LinkListener(Protocol):
    """What the link tells the one who publishes over it (pv_collector.publisher), in the event loop."""

    @property
    def queued(self) -> int:
        """Readings waiting for the broker (named in the connection's log lines)."""
        ...

    def connection_made(self, reconnected: bool) -> None:
        """Connected (after a lost connection: `reconnected`) and `online` published."""
        ...

    def connection_lost(self) -> None:
        """The connection ended; paho reconnects by itself unless the link stops."""
        ...

    def message_received(self, topic: str, payload: bytes) -> None:
        """A message on one of the link's subscriptions."""
        ...

    def message_sent(self, mid: int) -> None:
        """paho has sent message `mid` (QoS 0: written to the connection; QoS 1/2: acknowledged)."""
        ...


class MqttLink:
    """The paho client, whether it is connected, and the collector's `online`/`offline` status topic."""

    def __init__(
        self,
        config: Config,
        metrics: Metrics,
        listener: LinkListener,
        *,
        status_topic: str,
        subscriptions: list[tuple[str, int]],
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.status_topic = status_topic
        self._subscriptions = subscriptions
        self._listener = listener
        self.client: mqtt.Client | None = None  # between `start` and `stop`
        self.connected_since = 0.0  # wall clock of the current connection's CONNACK
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = False
        self._stopping = False
        self._attempt = 0  # TCP connections opened to the broker
        self._awaiting_connack = False  # the current connection has not been answered yet
        self._ever_connected = False
        self._refused_logged = False
        self._connected_event = asyncio.Event()
        self._mids_done: dict[int, asyncio.Future[None]] = {}

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
        cfg = self.config.mqtt
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
        self.client = client
        client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive)
        client.loop_start()

    async def stop(self) -> None:
        """Publish `offline` on the status topic, wait for it, disconnect and stop paho's thread."""
        client = self.client
        if client is None:
            return
        self._stopping = True  # the disconnect that follows is ours: no warning
        if self._connected:
            done = self._publish_tracked(self.status_topic, "offline", self.config.mqtt.qos.status, True)
            if done is not None:
                try:
                    await asyncio.wait_for(done, STOP_TIMEOUT)
                except TimeoutError:
                    _LOGGER.warning("status offline not confirmed by the broker")
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
        self.client = None
        self._connected = False

    # ------------------------------------------------------------------ publishing

    def publish(
        self, topic: str, payload: str, qos: int, retain: bool, kind: str
    ) -> mqtt.MQTTMessageInfo | None:
        """Hand a message to paho, counted under `kind`; None when paho did not take it."""
        client = self.client
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
        info = self.publish(topic, payload, qos, retain, "status")
        if info is None:
            return None
        future: asyncio.Future[None] = self._loop.create_future()
        self._mids_done[info.mid] = future
        if info.is_published():
            self._mids_done.pop(info.mid, None)
            future.set_result(None)
        return future

    def _published(self, mid: int) -> None:
        future = self._mids_done.pop(mid, None)
        if future is None:
            self._listener.message_sent(mid)
        elif not future.done():
            future.set_result(None)

    # ------------------------------------------------------------------ connection state (event loop)

    def _on_connected(self) -> None:
        self._connected = True
        self._awaiting_connack = False
        self.connected_since = time.time()
        self._connected_event.set()
        reconnected = self._ever_connected
        if not self._ever_connected:
            _LOGGER.info(
                "connected to the MQTT broker",
                extra={"broker": f"{self.config.mqtt.host}:{self.config.mqtt.port}"},
            )
        else:
            _LOGGER.info("reconnected to the MQTT broker", extra={"queued": self._listener.queued})
        self._ever_connected = True
        self._refused_logged = False
        self.publish(self.status_topic, "online", self.config.mqtt.qos.status, True, "status")
        self._listener.connection_made(reconnected)

    def _on_disconnected(self, reason: str) -> None:
        was_connected = self._connected
        self._connected = False
        if self._awaiting_connack and not self._stopping:
            self._awaiting_connack = False
            self._mute_broker(f"it closed the connection before answering MQTT CONNECT ({reason})")
        self._connected_event.clear()
        self._listener.connection_lost()
        if was_connected and self._stopping:
            _LOGGER.info("disconnected from the MQTT broker", extra={"reason": "the collector is stopping"})
        elif was_connected:
            _LOGGER.warning("lost the MQTT broker", extra={"reason": reason, "queued": self._listener.queued})

    def _on_refused(self, reason: str) -> None:
        self._awaiting_connack = False  # it did answer: with a refusal
        self._connect_error(
            "the MQTT broker refused the connection; retrying with backoff", {"reason": reason}
        )

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
        sock = self.client.socket() if self.client is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):  # paho sees the connection end and reconnects with its backoff
                sock.shutdown(socket.SHUT_RDWR)

    def _mute_broker(self, error: str) -> None:
        """A broker that takes connections but never answers them: one error per episode, then backoff."""
        self._connect_error("the MQTT broker does not answer; retrying with backoff", {"error": error})

    def _on_connect_failed(self, error: str) -> None:
        self._connect_error("cannot connect to the MQTT broker; retrying with backoff", {"error": error})

    def _connect_error(self, message: str, detail: dict[str, str]) -> None:
        """Count a failed connection; log the first of an episode (until the next connection) as an error."""
        self.metrics.error("mqtt_connect")
        if not self._refused_logged:
            self._refused_logged = True
            _LOGGER.error(
                message,
                extra={
                    "broker": f"{self.config.mqtt.host}:{self.config.mqtt.port}",
                    **detail,
                    "max_delay": RECONNECT_MAX_DELAY,
                },
            )

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
        client.subscribe(self._subscriptions)
        self._call(self._on_connected)

    def _paho_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._call(self._on_socket_open)

    def _paho_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # Called inside paho's `except OSError:` block: the exception is the current one.
        self._call(self._on_connect_failed, describe_connect_error(sys.exception()))

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
        self._call(self._listener.message_received, message.topic, bytes(message.payload))

    def _paho_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Any
    ) -> None:
        self._call(self._published, mid)
