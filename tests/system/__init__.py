"""System tests: several real processes together (brokers, bridge, collectors, Home Assistant)."""
