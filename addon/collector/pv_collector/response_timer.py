"""Adaptive timeouts: the bus measures every device's response time (a smoothed mean and mean deviation, as
TCP does for its retransmission timer) and waits for a read at most `3 * mean + 4 * deviation` (at least
`ADAPTIVE_MIN`), never longer than the configured `timeout`. A fast meter that stops answering is given
up on quickly; a slow one on the same line is given the time it needs. After a timeout the next request to
that device waits the full configured time again until an answer re-measures it. Writes always wait the
full time (pv_collector.transport).
"""

from __future__ import annotations

ADAPTIVE_MIN = 0.1  # seconds: the shortest timeout the adaptation may choose
_RTT_GAIN = 0.125  # weight of a new sample in the smoothed response time (RFC 6298's alpha)
_RTTVAR_GAIN = 0.25  # weight of a new sample in the mean deviation (RFC 6298's beta)


class ResponseTimer:
    """Smoothed response time of one device and the timeout it implies."""

    __slots__ = ("deviation", "mean", "samples", "timed_out")

    def __init__(self) -> None:
        self.mean = 0.0
        self.deviation = 0.0
        self.samples = 0
        self.timed_out = False

    def answered(self, seconds: float) -> None:
        """A reply (data or exception) arrived after `seconds`."""
        if self.samples == 0:
            self.mean, self.deviation = seconds, seconds / 2
        else:
            self.deviation += _RTTVAR_GAIN * (abs(seconds - self.mean) - self.deviation)
            self.mean += _RTT_GAIN * (seconds - self.mean)
        self.samples += 1
        self.timed_out = False

    def timeout(self, maximum: float) -> float:
        """Seconds to wait for the next reply: adapted, within ADAPTIVE_MIN..maximum."""
        if self.samples == 0 or self.timed_out:
            return maximum
        return min(maximum, max(ADAPTIVE_MIN, 3 * self.mean + 4 * self.deviation))
