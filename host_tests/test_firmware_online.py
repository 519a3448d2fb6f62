"""The whole firmware on the unix port in real time, seen from the network: MQTT through Mosquitto, HTTP.

tools/hostboard.py runs app.main() against a pymodbus DTSU666 on a pseudo-terminal, configured with
`--set` as an installer would: telemetry to the broker, an OpenDTU bridge for one inverter (this test
plays the OpenDTU), the HTTP server with network writes and a token. The test is Home Assistant and a
browser: it checks the state messages, the DTU's limit commands, the status endpoint, that writes need
the token, that malformed requests change nothing, and that an accepted limit reaches the controller
and the event stream.
"""

import http.client
import json
import subprocess
import sys
import time
from pathlib import Path

import broker as broker_process
import mqtt
import pytest
from meter_emulator import EmulatedMeter, MeterBus

ROOT = Path(__file__).resolve().parent.parent
SECONDS = 14
TOKEN = "e2e-token-0123456789"
SERIAL = "114190641177"


@pytest.fixture(scope="module")
def broker():
    with broker_process.running() as running:
        yield running


def _request(port, method, path, body=None, token=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = "Bearer " + token
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def _wait_for_http(port, deadline):
    while time.monotonic() < deadline:
        try:
            return _request(port, "GET", "/api/status")
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the firmware's HTTP server never answered")


def test_the_firmware_serves_mqtt_and_http_and_takes_a_limit_only_with_the_token(broker):
    http_port = broker_process.free_port()
    seen = []
    # Home Assistant takes packets of any size; the state message of this configuration is about 1 kB, over
    # the 1024 bytes our client keeps for what the gateway receives (its state is sent, never received).
    home_assistant = mqtt.MQTTClient("home-assistant", broker.host, broker.port, max_packet=8192)
    home_assistant.set_callback(lambda topic, msg: seen.append((topic.decode(), msg.decode())))
    home_assistant.connect()
    home_assistant.subscribe("export_manager/fw_e2e/#")
    home_assistant.subscribe("homeassistant/sensor/fw_e2e/#")
    dtu = mqtt.MQTTClient("opendtu", broker.host, broker.port)
    commands = []

    def answer(topic, msg):
        commands.append(msg)
        dtu.publish("solar/%s/status/limit_absolute" % SERIAL, msg + b".00")
        dtu.publish("solar/%s/0/power" % SERIAL, "300.0")

    dtu.set_callback(answer)
    dtu.connect()
    dtu.subscribe("solar/+/cmd/#")
    settings = {
        "mqtt_server": "127.0.0.1", "mqtt_port": broker.port, "mqtt_node_id": "fw_e2e", "telemetry_period_s": 1,
        "dtu_type": "opendtu", "inverters": [{"serial": SERIAL, "rated_w": 800}],
        "http_enabled": True, "http_port": http_port, "http_writes": True, "http_token": TOKEN,
        "export_limit_w": 100,
    }
    meter = EmulatedMeter("dtsu666", address=1)
    meter.set(phase_power_w=[700.0, -200.0, 1000.0], current_a=[3.1, 0.9, 4.4])
    with MeterBus(meter) as bus:
        command = [sys.executable, str(ROOT / "tools" / "hostboard.py"), "--port", bus.port, "--seconds",
                   str(SECONDS)]
        for key, value in settings.items():
            command += ["--set", "%s=%s" % (key, json.dumps(value))]
        firmware = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + SECONDS
            status, document = _wait_for_http(http_port, deadline)
            assert status == 200 and document["export_limit_w"] == 100
            assert _request(http_port, "POST", "/api/limit", '{"export_limit_w": 250}')[0] == 401
            assert _request(http_port, "POST", "/api/limit", '{"export_limit_w": 250}', "wrong-token-123")[0] == 401
            assert _request(http_port, "POST", "/api/limit", '{"export_limit_w": "250"}', TOKEN)[0] == 400
            assert _request(http_port, "POST", "/api/limit", "{not json", TOKEN)[0] == 400
            assert _request(http_port, "POST", "/api/limit", '{"export_limit_w": 2000000}', TOKEN)[0] == 422
            assert _request(http_port, "GET", "/api/status")[1]["export_limit_w"] == 100  # nothing changed
            assert _request(http_port, "POST", "/api/limit", '{"export_limit_w": 250}', TOKEN) == (
                200, {"export_limit_w": 250})
            assert _request(http_port, "GET", "/api/status")[1]["export_limit_w"] == 250
            while firmware.poll() is None and time.monotonic() < deadline + 30:
                home_assistant.check_msg()
                dtu.check_msg()
                time.sleep(0.005)
            out, err = firmware.communicate(timeout=30)
        finally:
            if firmware.poll() is None:
                firmware.kill()
                firmware.wait(5)
    for _ in range(20):
        home_assistant.check_msg()
        time.sleep(0.01)
    home_assistant.disconnect()
    dtu.disconnect()
    assert firmware.returncode == 0, out + err

    states = [json.loads(msg) for topic, msg in seen if topic == "export_manager/fw_e2e/state"]
    assert len(states) >= 3, out
    assert states[-1]["grid"]["valid"] and states[-1]["grid"]["power_w"] == 1500
    assert states[-1]["export_limit_w"] == 250
    assert states[-1]["inverters"][0]["output_w"] == 300 and states[-1]["dtu"]["acks"] >= 1
    assert commands and all(int(msg) <= 800 for msg in commands)
    statuses = [msg for topic, msg in seen if topic == "export_manager/fw_e2e/status"]
    assert statuses[0] == "online" and statuses[-1] == "offline"
    event_names = [json.loads(msg)["event"] for topic, msg in seen if topic == "export_manager/fw_e2e/events"]
    assert event_names.count("boot") == 1 and event_names.count("configuration changed") == 1, event_names
    assert "homeassistant/sensor/fw_e2e/grid_power_w/config" in [topic for topic, _ in seen]
    running = out.split("loop: STOPPED")[0]  # status() while running; a stop closes the server
    assert "http :%d: served" % http_port in running and "writes 1 (writes on)" in running, out
    assert TOKEN not in out + err
