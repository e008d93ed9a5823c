"""One exception tree for the collector; callers map these to user-facing messages at the edge."""

from __future__ import annotations


class CollectorError(Exception):
    """Base of every error the collector raises on purpose."""


class ConfigError(CollectorError):
    """A configuration file or option is invalid. `messages` lists one line per problem."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


class ProfileError(CollectorError):
    """A device profile file is invalid or unknown."""


class ModbusError(CollectorError):
    """A Modbus request failed."""


class ModbusTimeout(ModbusError):
    """The device did not answer in time."""


class ModbusExceptionResponse(ModbusError):
    """The device answered with a Modbus exception code (2 = illegal address, 4 = failure, 6 = busy)."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message or f"Modbus exception {code}")
        self.code = code


class ModbusConnectionError(ModbusError):
    """The bus or gateway could not be reached."""


class ModbusInvalidReply(ModbusError):
    """A reply that does not answer the request (function code, byte count, register count, length), or a
    frame nobody asked for; `reason` says which, e.g. "wrong byte count: 32 for 18 registers"."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid reply: {reason}")
        self.reason = reason


class CommandError(CollectorError):
    """A command was refused; `code` is one of the contract's command error values."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RequestRefused(CollectorError):
    """A request of the collector's web page was refused; `code` names why (`write_refused`,
    `invalid_request`, `unknown_device`, `unknown_bus`, `not_available`) and the message says what."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
