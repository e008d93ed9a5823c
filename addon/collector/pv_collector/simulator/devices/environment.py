"""Unit 4: a plane-of-array pyranometer with module and air temperature probes and an anemometer, written
through `profiles/pv_sim_environment.yaml` (the profile is its register map)."""

from __future__ import annotations

from pv_collector.profile import load_profile
from pv_collector.simulator.devices.base import SimulatedDevice
from pv_collector.simulator.profile_image import ProfileImage
from pv_collector.simulator.sun import Weather

PROFILE = "pv_sim_environment"


class EnvironmentSensor(SimulatedDevice):
    """Reports the weather of the simulated site."""

    kind = "environment"

    def __init__(self, unit_id: int) -> None:
        super().__init__(unit_id, ProfileImage.from_profile(load_profile(PROFILE)))
        self.weather: Weather | None = None

    def update(self, weather: Weather) -> None:
        """The weather of this instant."""
        self.weather = weather

    def render(self) -> None:
        """Write the current state into the registers."""
        weather = self.weather
        if weather is None:
            return
        self.image.set("irradiance", weather.poa)
        self.image.set("module_temperature", weather.module_temperature)
        self.image.set("ambient_temperature", weather.ambient_temperature)
        self.image.set("wind_speed", weather.wind_speed)
