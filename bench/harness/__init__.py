"""Home Assistant harness measurements (pytest-homeassistant-custom-component), run by bench/ scripts."""
