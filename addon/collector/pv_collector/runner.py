"""Running the collector in a process: until SIGTERM/SIGINT, with one exit code (errors.ExitCode).

The command line (`pv-collector run`) and the add-on's start step both end here, so a signal, an error that
stops the collector and a crash are handled the same way: a clean shutdown on a signal (status `offline`
published), one error line for a `CollectorError`, a logged traceback only for a bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from typing import Any

from pv_collector.app import Collector
from pv_collector.config import Config
from pv_collector.errors import CollectorError, ExitCode

_LOGGER = logging.getLogger("pv_collector")


async def until_signal(main: Coroutine[Any, Any, None]) -> bool:
    """Run `main` until it ends or SIGTERM/SIGINT cancels it (a cancellation by the signal is no error).

    Returns True when `main` ran to its end, False when a signal stopped it. Raises whatever `main` raises.
    """
    task = asyncio.ensure_future(main)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not in the main thread, or Windows
            loop.add_signal_handler(signum, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
        return False
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
    return True


def run_collector(config: Config) -> ExitCode:
    """Run the collector of `config` in this process until a signal; the exit code says how it ended.

    `ExitCode.OK` after a signal (clean shutdown); the error's `exit_code` when a `CollectorError` stopped
    it (logged as one error line; `FAILED` for most); `ExitCode.FAILED` when it crashed (logged with the
    traceback).
    """
    try:
        asyncio.run(until_signal(Collector(config).run()))
    except CollectorError as err:
        _LOGGER.error("collector stopped", extra={"error": " ".join(str(err).split())})
        return err.exit_code
    except Exception:
        _LOGGER.exception("collector crashed")
        return ExitCode.FAILED
    return ExitCode.OK
