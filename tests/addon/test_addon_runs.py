"""End to end: the start step hands its configuration to the collector, which runs until SIGTERM.

Real peers: a Mosquitto broker (announced by the fake Supervisor as its mqtt service), the simulated
devices over Modbus TCP, and `python -m pv_collector.addon` as the s6 run script starts it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading

import aiohttp
import paho.mqtt.client as mqtt

from pv_collector.simulator.server import Simulation
from tests.addon.conftest import AddonHome, FakeSupervisor
from tests.helpers import eventually
from tests.mosquitto import Mosquitto, free_port

COLLECTOR_ID = "addon_e2e"


class Recorder:
    """An MQTT client that keeps every message under the collector's topics."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="addon-test-recorder")
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_args: object) -> None:
        client.subscribe(f"pv_monitor/{COLLECTOR_ID}/#", qos=1)

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((message.topic, message.payload, message.retain))

    def last(self, topic: str) -> bytes | None:
        with self.lock:
            payloads = [payload for name, payload, _retain in self.messages if name == topic]
        return payloads[-1] if payloads else None

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def test_addon_runs_the_collector_until_sigterm(
    addon_home: AddonHome, supervisor: FakeSupervisor, broker: Mosquitto
) -> None:
    simulation = Simulation(seed=3)
    modbus_port = await simulation.start("127.0.0.1", 0)
    supervisor.mqtt = {
        "host": "127.0.0.1",
        "port": broker.port,
        "ssl": False,
        "protocol": "3.1.1",
        "addon": "core_mosquitto",
    }
    addon_home.write_options(
        {
            "collector": {"id": COLLECTOR_ID, "name": "Add-on test"},
            "log_level": "info",
            "publish": {"on_change": False},
            "mqtt": {"qos": {"state": 1, "status": 1, "discovery": 1, "commands": 1}},
            "metrics": {"enabled": False},
            "buses": [
                {
                    "name": "sim",
                    "type": "tcp",
                    "host": "127.0.0.1",
                    "port": modbus_port,
                    "devices": [
                        {
                            "id": "meter",
                            "name": "Grid meter",
                            "unit_id": 2,
                            "profile": "sdm630",
                            "poll_interval": 0.2,
                        }
                    ],
                }
            ],
        }
    )
    supervisor.ingress_port = free_port()
    recorder = Recorder(broker.port)
    status = f"pv_monitor/{COLLECTOR_ID}/status"
    state = f"pv_monitor/{COLLECTOR_ID}/meter/state"
    process = await addon_home.spawn(supervisor.url)
    try:
        await eventually(lambda: recorder.last(status) == b"online", "status online")
        await eventually(lambda: recorder.last(state) is not None, "a state message of the meter")
        announcement = recorder.last(f"pv_monitor/{COLLECTOR_ID}/config")
        assert announcement is not None
        assert json.loads(announcement)["collector"]["name"] == "Add-on test"
        # The page listens on the ingress port and answers the Supervisor's ingress proxy only: from here
        # (127.0.0.1) it is refused.
        page = f"http://127.0.0.1:{supervisor.ingress_port}/api/status"
        async with aiohttp.ClientSession() as session, session.get(page) as response:
            assert response.status == 403
            assert (await response.json())["error"] == "forbidden"

        process.send_signal(signal.SIGTERM)  # what s6 sends when the add-on is stopped
        _stdout, stderr = await asyncio.wait_for(process.communicate(), 30)

        assert process.returncode == 0, stderr.decode()
        assert "Traceback" not in stderr.decode()
        await eventually(lambda: recorder.last(status) == b"offline", "status offline after SIGTERM")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        recorder.close()
        await simulation.stop()
    assert [path for path, _token in supervisor.requests] == ["/addons/self/info", "/services/mqtt"]
