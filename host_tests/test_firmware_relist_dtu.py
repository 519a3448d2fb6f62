"""A new inverter list behind an OpenDTU bridge, applied without a reset: the firmware's online part on Mosquitto.

The App runs in this process on the fake chip (the DTSU666 a register slave on the RS485 line) with its timers
on the real clock: the control tick, and the service loop that polls MQTT; this test plays the OpenDTU. The
list goes from inverter A to inverter B while a long message is still streaming out, so the new topics are
subscribed at the first service pass with a free send buffer. B's limit topic must get the fail-safe limit
first; B's ack and power topics must reach the new Fleet (at once, and again after a reconnect); A's topics
must get no command and change nothing any more; Home Assistant gets the sensors announced again.
"""

import time

import app
import broker as broker_process
import cfg
import machine
import mqtt
import pytest
import register_slave
from compat import ticks_ms
from fleet import CMD_ACKED

BOARD = {"name": "test board", "meter_bus": {"uart": 2, "tx": 17, "rx": 16, "de": 4}}
A = {"serial": "114190641177", "rated_w": 800}
B = {"serial": "116180216734", "rated_w": 1500, "phase": 2}
WAIT_S = 5
SENSOR = "homeassistant/sensor/relist/inverter_1_power_w/config"


@pytest.fixture()
def broker():
    with broker_process.running() as running:
        yield running


class Rig:
    def __init__(self, broker):
        machine.reset_hardware()
        machine.use_clock(None)
        line = machine.Line()
        machine.UART.wire(2, line, de=4)
        self.meter = register_slave.dtsu666(line)
        register_slave.set_power(self.meter, 300.0, 0.0, 0.0)
        cfg.load("/nonexistent/config.json")
        settings = cfg.values()
        settings.update(http_enabled=False, mqtt_server=broker.host, mqtt_port=broker.port, mqtt_node_id="relist",
                        dtu_type="opendtu", inverters=[A], export_limit_w=0)
        self.app = app.App(BOARD, settings)
        cfg.forget_listeners()
        cfg.on_change(self.app.apply)
        self.messages = []  # (monotonic s, topic, payload)
        self.dtu = mqtt.MQTTClient("opendtu", broker.host, broker.port)  # and Home Assistant
        self.dtu.set_callback(lambda topic, msg: self.messages.append((time.monotonic(), topic.decode(), msg)))
        self.dtu.connect()
        self.dtu.subscribe("solar/+/cmd/#")
        self.dtu.subscribe(SENSOR)
        self.app.start()

    def until(self, done, what):
        deadline = time.monotonic() + WAIT_S
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for " + what)
            machine.run_timers(ticks_ms())
            self.meter.serve()
            self.dtu.check_msg()
            time.sleep(0.002)

    def to(self, serial, since=0.0):
        """The limits commanded to `serial` after `since` (monotonic s)."""
        topic = "solar/%s/cmd/limit_nonpersistent_absolute" % serial
        return [msg for at, to, msg in self.messages if to == topic and at > since]

    def say(self, serial, topic, payload):
        self.dtu.publish("solar/%s/%s" % (serial, topic), payload)

    def close(self):
        self.app.stop()
        cfg.forget_listeners()
        self.dtu.disconnect()


def test_a_new_list_behind_opendtu_gets_its_fail_safe_limit_and_its_topics(broker):
    rig = Rig(broker)
    gateway = rig.app
    online = gateway.online
    try:
        rig.until(lambda: rig.to(A["serial"]), "A's fail-safe limit")
        old_fleet, old_bridge = gateway.fleet, online.bridge
        rig.say(A["serial"], "status/limit_absolute", rig.to(A["serial"])[0] + b".00")
        rig.until(lambda: old_fleet.cmd_state[0] == CMD_ACKED, "A's ack")
        rig.until(lambda: [topic for _, topic, _ in rig.messages if topic == SENSOR], "the announce at connect")

        assert online.session.publish("relist/filler", {"pad": "x" * 8000})  # still streaming out at the swap
        assert online.session.client.busy
        cfg.set("inverters", [B])
        swapped = time.monotonic()
        bridge = online.telemetry.bridge
        assert bridge is not old_bridge and bridge.fleet is gateway.fleet and gateway.fleet.count == 1
        assert online.bridge is not bridge  # waits for the send buffer to subscribe
        assert online.session.hooks[0] == bridge._subscribe and len(online.session.hooks) == 2
        rig.until(lambda: rig.to(B["serial"]), "B's fail-safe limit")
        assert online.bridge is bridge
        assert int(rig.to(B["serial"])[0]) == gateway.controller.failsafe_dw[0] // 10  # the fail-safe limit first

        fleet = gateway.fleet
        rig.say(B["serial"], "status/limit_absolute", rig.to(B["serial"])[-1] + b".00")
        rig.until(lambda: bridge.acks == 1, "B's ack")  # the new topics are subscribed
        rig.say(B["serial"], "0/power", "412.5")
        rig.until(lambda: fleet.output_dw[0] == 4125, "B's power")
        rig.say(A["serial"], "0/power", "333.0")  # the old topics: heard by nobody any more
        rig.say(B["serial"], "0/power", "401.0")
        rig.until(lambda: fleet.output_dw[0] == 4010, "B's second power report")
        assert old_bridge.reports == 0 and bridge.reports == 2 and bridge.malformed == 0

        rig.until(lambda: [at for at, topic, _ in rig.messages if topic == SENSOR and at > swapped],
                  "the inverter's sensor announced again")

        online.session.client.close()  # the connection drops: the reconnect subscribes B's topics again
        rig.until(lambda: online.session.connects == 2, "the reconnect")
        rig.say(B["serial"], "0/power", "388.0")
        rig.until(lambda: fleet.output_dw[0] == 3880, "B's power after the reconnect")
        assert not rig.to(A["serial"], swapped)
        assert old_bridge.commands == 1 and not [state for state in old_fleet.cmd_state if state != CMD_ACKED]
    finally:
        rig.close()
