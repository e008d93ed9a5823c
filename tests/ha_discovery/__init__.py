"""Home Assistant's own MQTT integration reading the collector's standard discovery messages."""
