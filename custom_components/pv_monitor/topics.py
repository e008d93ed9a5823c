"""The MQTT contract's topics (docs/mqtt-contract.md): where a collector publishes and listens."""

from __future__ import annotations

from dataclasses import dataclass

from .messages import ID_PATTERN


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one collector under a base topic."""

    base: str
    collector_id: str

    @property
    def root(self) -> str:
        """`<base>/<cid>`."""
        return f"{self.base}/{self.collector_id}"

    @property
    def config(self) -> str:
        """Retained announcement."""
        return f"{self.root}/config"

    @property
    def status(self) -> str:
        """Retained collector status and Last Will."""
        return f"{self.root}/status"

    @property
    def stats(self) -> str:
        """Collector statistics."""
        return f"{self.root}/stats"

    @property
    def availability_wildcard(self) -> str:
        """Per-device availability of every device."""
        return f"{self.root}/+/availability"

    @property
    def state_wildcard(self) -> str:
        """State of every device."""
        return f"{self.root}/+/state"

    @property
    def event_wildcard(self) -> str:
        """Events of every device."""
        return f"{self.root}/+/event"

    def command(self, device_id: str, key: str) -> str:
        """Where a command for one point is written."""
        return f"{self.root}/{device_id}/set/{key}"

    def device_of(self, topic: str) -> str | None:
        """The device id of a `<root>/<did>/<leaf>` topic, None when the topic is not one."""
        prefix = f"{self.root}/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix) :].split("/")
        if len(parts) != 2 or not ID_PATTERN.match(parts[0]):
            return None
        return parts[0]


def collector_id_from_config_topic(topic: str) -> tuple[str, str] | None:
    """Split `<base>/<cid>/config` into (base, cid); None when the topic is not an announcement topic."""
    base, sep, rest = topic.rpartition("/")
    if not sep or rest != "config":
        return None
    base, sep, collector_id = base.rpartition("/")
    if not sep or not base or not ID_PATTERN.match(collector_id):
        return None
    return base, collector_id
