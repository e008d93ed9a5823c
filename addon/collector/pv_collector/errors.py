"""One exception tree for the collector, and the one set of process exit codes.

Every error the collector raises on purpose is a `CollectorError`; callers map them to user-facing messages
at the edge (the command line, the add-on's start step, the web page, MQTT events). A `CollectorError`
carries the `exit_code` a process ends with when the error stops it (`ExitCode`); `str(error)` is the one
line to show.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of `pv-collector` and of the add-on's start step (addon/DOCS.md, docs/configuration.md)."""

    OK = 0
    FAILED = 1  # the collector stopped with an error (one log line says which)
    INVALID_CONFIG = 2  # invalid configuration or add-on options (one line per problem)
    NO_BROKER = 3  # the add-on found no MQTT broker (no option, no Supervisor service)
    SERIAL_PORT = 4  # the add-on's serial bus names an adapter that is not there


class CollectorError(Exception):
    """Base of every error the collector raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILED


class ConfigError(CollectorError):
    """A configuration file or option is invalid. `messages` lists one line per problem, each naming the
    option (`buses[0].devices[1].unit_id: 0 is not a valid value (expected 1..247)`)."""

    exit_code = ExitCode.INVALID_CONFIG

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = list(messages)


class ProfileError(CollectorError):
    """A device profile file is invalid or unknown; one line per problem, each naming the file and field."""

    exit_code = ExitCode.INVALID_CONFIG


class PlanError(CollectorError):
    """Points cannot be read as asked: a point does not fit the device's largest read, a scale factor is
    not among the points, or a limit is out of range (a profile or caller mistake, named in the message)."""


class RegisterError(CollectorError):
    """Registers do not fit what they are meant for: a wrong register count for a point or block, a word
    outside 0..65535, registers past address 65535, or nothing to write."""


class DuplicateCollectorError(CollectorError):
    """Another live collector already runs with this collector id (pv_collector.instance)."""


class ModbusError(CollectorError):
    """A Modbus request failed."""


class ModbusTimeout(ModbusError):
    """The device did not answer in time."""


class DeviceSilent(ModbusTimeout):
    """A device answered none of the first reads asked of it (a whole block, then a single point of it):
    nothing answers at its unit id, or the bus does not reach it. Reading on, point by point, would only
    wait out one timeout after another."""


class ModbusExceptionResponse(ModbusError):
    """The device answered with a Modbus exception code (2 = illegal address, 4 = failure, 6 = busy)."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message or f"Modbus exception {code}")
        self.code = code


class ModbusConnectionError(ModbusError):
    """The bus or gateway could not be reached."""


class LoggerSerialMismatch(ModbusConnectionError):
    """A Solarman V5 data logger answered with another serial number than the bus's `logger_serial`: a
    configuration error, not worth a retry. `configured` is the bus's `logger_serial`, `answered` the serial
    number in the logger's reply (pv_collector.solarman)."""

    def __init__(self, message: str, *, configured: int, answered: int) -> None:
        super().__init__(message)
        self.configured = configured
        self.answered = answered


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


class ImageError(CollectorError):
    """A register image is missing, unreadable or invalid; the message is one line naming what is wrong (and
    the file, when it came from one)."""


class AddonStartError(CollectorError):
    """The add-on cannot start the collector; `str(error)` is the one line to log."""


class InvalidOptions(AddonStartError):
    """The add-on options are invalid; `problems` lists one line per problem, each naming its option."""

    exit_code = ExitCode.INVALID_CONFIG

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("Invalid options: " + "; ".join(problems))
        self.problems = list(problems)


class BrokerUnavailable(AddonStartError):
    """Neither the options nor the Supervisor's mqtt service name a broker."""

    exit_code = ExitCode.NO_BROKER


class SerialPortMissing(AddonStartError):
    """A serial bus names an adapter that does not exist or cannot be opened."""

    exit_code = ExitCode.SERIAL_PORT
