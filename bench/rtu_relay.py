"""A pseudo-terminal RS-485 line that takes as long as a real one: bytes relayed at serial timing.

A pty pair moves bytes as fast as the kernel copies them, so a Modbus RTU cycle over plain ptys says
nothing about 9600 baud. This relay opens two pty pairs (os.openpty, raw mode): the client opens one
slave end, the server the other, and the relay copies bytes between the two master ends, releasing each
byte only when it would have finished arriving on a real line: one character takes
`bits_per_char / baudrate` seconds (11 bits per Modbus RTU character by default: start, 8 data, parity or
a second stop bit, stop), and both directions share one clock because RS-485 is half duplex (a byte
waits while the line carries the other direction's). A byte is held back until its due time
(`time.sleep` to just before, then a short spin), so a frame keeps its inter-character timing.
After every frame (one burst written by a sender) the line stays silent for `silence_chars` (3.5, the
Modbus RTU end-of-frame gap): a real receiver only knows a frame ended after that silence, and the master
may not start the next request before it; a pty would skip it.

    python bench/rtu_relay.py [--baudrate 9600] [--bits 11]   # prints "CLIENT_PTY SERVER_PTY", Ctrl-C stops

or in-process: `relay = ThrottledLine(9600, 11); relay.start(); relay.client_port, relay.server_port`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import threading
import time
import tty


class ThrottledLine:
    """Two pty pairs joined by a relay thread that paces bytes at `baudrate` (see module doc)."""

    def __init__(self, baudrate: int = 9600, bits_per_char: int = 11, silence_chars: float = 3.5) -> None:
        self.char_seconds = bits_per_char / baudrate
        self.silence_seconds = silence_chars * self.char_seconds
        self._client_master, client_slave = os.openpty()
        self._server_master, server_slave = os.openpty()
        for fd in (client_slave, server_slave, self._client_master, self._server_master):
            tty.setraw(fd)
        self.client_port = os.ttyname(client_slave)
        self.server_port = os.ttyname(server_slave)
        # Keep the slave ends open ourselves: a pty master reads EIO while no slave is open.
        self._slaves = (client_slave, server_slave)
        self._line_free = 0.0  # monotonic time at which the half-duplex line is idle again
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtu-relay", daemon=True)
        self.bytes_relayed = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for fd in (self._client_master, self._server_master, *self._slaves):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _run(self) -> None:
        peer = {self._client_master: self._server_master, self._server_master: self._client_master}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(peer), [], [], 0.1)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                self._send(peer[fd], data)

    def _send(self, fd: int, data: bytes) -> None:
        """Deliver `data` byte by byte, each when its last bit would have arrived."""
        now = time.monotonic()
        start = max(now, self._line_free)
        for index in range(len(data)):
            due = start + (index + 1) * self.char_seconds
            remaining = due - time.monotonic()
            if remaining > 0.0003:
                time.sleep(remaining - 0.0002)
            while time.monotonic() < due:
                pass
            os.write(fd, data[index : index + 1])
        self._line_free = start + len(data) * self.char_seconds + self.silence_seconds
        self.bytes_relayed += len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baudrate", type=int, default=9600)
    parser.add_argument("--bits", type=int, default=11, help="bits per character on the wire (8N1: 10)")
    parser.add_argument("--silence", type=float, default=3.5, help="characters of silence after a frame")
    args = parser.parse_args()
    line = ThrottledLine(args.baudrate, args.bits, args.silence)
    line.start()
    print(line.client_port, line.server_port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    line.stop()


if __name__ == "__main__":
    main()
