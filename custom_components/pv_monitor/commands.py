"""Commands to the collector: publish, wait for the `command_result` event, raise a typed error.

`CommandSender` raises the `CommandError` tree; `command_error_handler` (the one decorator on every
actuator method, as peblar's `helpers.py`) turns it into a translated `HomeAssistantError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate
from uuid import uuid4

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .const import COMMAND_TIMEOUT, DOMAIN
from .contract import command_payload
from .messages import EventMessage, Value
from .models import CollectorState
from .options import EntryOptions

if TYPE_CHECKING:
    from .entity import PvMonitorPointEntity


class CommandError(Exception):
    """A command was not carried out; `translation_key` and `placeholders` say why (strings.json
    `exceptions`)."""

    translation_key: ClassVar[str]

    def __init__(self, placeholders: dict[str, str]) -> None:
        """`placeholders`: collector, device, point, and what the subclass adds."""
        super().__init__(self.translation_key, placeholders)
        self.placeholders = placeholders


class CollectorOffline(CommandError):
    """The collector is offline (before sending, or its Last Will arrived while waiting)."""

    translation_key = "collector_offline"


class DeviceUnavailable(CommandError):
    """The device is offline or asleep: nothing was published."""

    translation_key = "device_unavailable"


class CommandTimeout(CommandError):
    """No result within `COMMAND_TIMEOUT` seconds (placeholder `timeout`)."""

    translation_key = "command_timeout"


class CommandRefused(CommandError):
    """The collector answered `ok: false` (placeholders `error`, the contract code, and `message`)."""

    translation_key = "command_refused"


class ValueRefused(CommandRefused):
    """The collector refused the value itself (`out_of_range`, `invalid_value`): the user's input, not a
    failure (a `ServiceValidationError`: HTTP 400, nothing logged as an error)."""

    translation_key = "value_refused"


# Contract error codes that say the value was wrong (docs/mqtt-contract.md, "Event").
VALUE_ERRORS = frozenset({"out_of_range", "invalid_value"})


class CommandSender:
    """Publishes commands to one collector and matches its results to them by id."""

    def __init__(self, hass: HomeAssistant, state: CollectorState, options: EntryOptions) -> None:
        """Nothing pending."""
        self.hass = hass
        self._state = state
        self._options = options
        self._pending: dict[str, asyncio.Future[EventMessage]] = {}
        self._last_sent: dict[str, tuple[str, datetime]] = {}

    async def async_send(self, device_id: str, key: str, value: Value) -> EventMessage:
        """Publish a command and wait for its result (the successful `command_result` event).

        Raises `CollectorOffline`, `DeviceUnavailable`, `CommandTimeout` or `CommandRefused`.
        """
        state = self._state
        placeholders = {"collector": state.collector_name, "device": device_id, "point": key}
        if state.online is not True:
            raise CollectorOffline(placeholders)
        runtime = state.devices.get(device_id)
        if runtime is None or runtime.availability in ("offline", "asleep"):
            raise DeviceUnavailable(placeholders)
        command_id = uuid4().hex
        self._last_sent[device_id] = (key, dt_util.utcnow())
        future: asyncio.Future[EventMessage] = self.hass.loop.create_future()
        self._pending[command_id] = future

        @callback
        def _expire(_now: Any) -> None:
            if not future.done():
                future.set_exception(TimeoutError())

        cancel_timeout = async_call_later(self.hass, COMMAND_TIMEOUT, _expire)
        try:
            await mqtt.async_publish(
                self.hass,
                state.topics.command(device_id, key),
                command_payload(value, command_id),
                self._options.command_qos,
                False,
            )
            result = await future
        except ConnectionError as err:
            raise CollectorOffline(placeholders) from err
        except TimeoutError as err:
            raise CommandTimeout({**placeholders, "timeout": f"{COMMAND_TIMEOUT:g}"}) from err
        finally:
            cancel_timeout()
            self._pending.pop(command_id, None)
        if not result.ok:
            refused = ValueRefused if result.error in VALUE_ERRORS else CommandRefused
            raise refused(
                {
                    **placeholders,
                    "value": str(value),
                    "error": result.error or "unknown",
                    "message": result.message or "",
                }
            )
        return result

    def recent_command(self, device_id: str) -> str | None:
        """The point of the device's last command, if it was sent less than `COMMAND_TIMEOUT` s ago."""
        if (sent := self._last_sent.get(device_id)) is None:
            return None
        key, at = sent
        return key if (dt_util.utcnow() - at).total_seconds() <= COMMAND_TIMEOUT else None

    @callback
    def resolve(self, event: EventMessage) -> None:
        """A `command_result` arrived: the command waiting for its id gets it."""
        if event.id is not None and (future := self._pending.get(event.id)) and not future.done():
            future.set_result(event)

    @callback
    def fail_pending(self) -> None:
        """The collector went offline: commands in flight will get no result."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError())

    @callback
    def async_stop(self) -> None:
        """Abandon pending commands (the entry is unloading)."""
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()


def command_error_handler[EntityT: PvMonitorPointEntity, **P](
    func: Callable[Concatenate[EntityT, P], Coroutine[Any, Any, Any]],
) -> Callable[Concatenate[EntityT, P], Coroutine[Any, Any, None]]:
    """Decorate an actuator method: a `CommandError` becomes a translated `HomeAssistantError` (a refused
    value a `ServiceValidationError`), and the entity writes its confirmed state again, so a control that
    showed the user's input shows the device's value."""

    async def handler(self: EntityT, /, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await func(self, *args, **kwargs)
        except CommandError as err:
            self.async_write_ha_state()
            error = ServiceValidationError if isinstance(err, ValueRefused) else HomeAssistantError
            raise error(
                translation_domain=DOMAIN,
                translation_key=err.translation_key,
                translation_placeholders={**err.placeholders, "name": self.name_for_messages},
            ) from err
        except ServiceValidationError:
            self.async_write_ha_state()
            raise

    return handler
