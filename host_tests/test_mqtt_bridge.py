"""The OpenDTU/AhoyDTU bridge against Mosquitto, with a test client playing the DTU.

The DTU player subscribes to the limit command topics and answers on the
status topics the way OpenDTU (or AhoyDTU) does; the bridge runs in this
process on the real clock. Waits are for observable effects (a counter, a
command arriving), never for a time to pass, except the ack timeout itself.
"""

import time

import broker as broker_process
import fleet
import mqtt
import pytest
from compat import ticks_ms
from mqtt_bridge import AHOYDTU, OPENDTU, DtuBridge
from mqtt_session import Session

WAIT_S = 5
SERIALS = ["114190641177", "116180216734"]


@pytest.fixture(scope="module")
def broker():
    with broker_process.running() as running:
        yield running


class Rig:
    """A fleet of an HM-800 and an HM-1500, the bridge, and a client playing the DTU."""

    def __init__(self, broker, dtu, prefix, ids, names=None, ack_timeout_ms=10000):
        self.fleet = fleet.Fleet(2)
        self.fleet.add(0, rated_w=800, phase=0, inputs=2)
        self.fleet.add(1, rated_w=1500, phase=1, inputs=4)
        self.session = Session(mqtt.MQTTClient("gateway-" + prefix, broker.host, broker.port, keepalive=30))
        self.bridge = DtuBridge(self.session, self.fleet, dtu, prefix, ids, names, ack_timeout_ms=ack_timeout_ms)
        self.commands = []
        self.dtu = mqtt.MQTTClient("dtu-" + prefix, broker.host, broker.port)
        self.dtu.set_callback(lambda topic, msg: self.commands.append((topic.decode(), msg)))
        self.dtu.connect()

    def start(self, command_filter):
        self.dtu.subscribe(command_filter)
        self.until(lambda: self.session.connected, "the bridge to connect")

    def until(self, done, what):
        deadline = time.monotonic() + WAIT_S
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for " + what)
            now = ticks_ms()
            self.session.poll(now)
            self.bridge.poll(now)
            self.dtu.check_msg()
            time.sleep(0.005)

    def say(self, topic, payload, retain=False):
        self.dtu.publish(topic, payload, retain)

    def snapshot(self):
        table = self.fleet
        return [list(getattr(table, name)) for name in ("cmd_state", "output_dw", "output_seq", "target_dw")]

    def close(self):
        self.session.client.disconnect()
        self.dtu.disconnect()


def test_opendtu_limit_goes_out_and_only_the_matching_echo_acknowledges_it(broker):
    rig = Rig(broker, OPENDTU, "solar", SERIALS)
    rig.start("solar/+/cmd/#")
    rig.fleet.command(0, 6009, ticks_ms())  # 600.9 W: a cap is rounded down
    rig.until(lambda: rig.commands, "the limit command")
    assert rig.commands == [("solar/114190641177/cmd/limit_nonpersistent_absolute", b"600")]
    assert rig.fleet.cmd_state[0] == fleet.CMD_SENT
    # The DTU republishes the old limit until the inverter confirmed the new one.
    rig.say("solar/114190641177/status/limit_absolute", "800.00")
    rig.say("solar/114190641177/0/power", "512.3")
    rig.until(lambda: rig.bridge.reports == 1, "the power report")
    assert rig.fleet.cmd_state[0] == fleet.CMD_SENT
    assert rig.fleet.output_dw[0] == 5123 and rig.fleet.output_seq[0] == 1
    rig.say("solar/114190641177/status/limit_absolute", "600.80")  # 0.1 % steps of the rating
    rig.until(lambda: rig.fleet.cmd_state[0] == fleet.CMD_ACKED, "the ack")
    assert rig.bridge.acks == 1 and rig.bridge.malformed == 0
    # The second inverter's topics reach the second row.
    rig.say("solar/116180216734/0/power", "1499.96")
    rig.until(lambda: rig.bridge.reports == 2, "the second report")
    assert rig.fleet.output_dw[1] == 15000 and rig.fleet.output_dw[0] == 5123
    rig.close()


def test_no_echo_within_the_timeout_fails_the_command(broker):
    rig = Rig(broker, OPENDTU, "silent", SERIALS, ack_timeout_ms=300)
    rig.start("silent/+/cmd/#")
    rig.fleet.command(1, 9000, ticks_ms())
    rig.until(lambda: rig.fleet.cmd_state[1] == fleet.CMD_FAILED, "the timeout")
    assert rig.commands == [("silent/116180216734/cmd/limit_nonpersistent_absolute", b"900")]
    assert rig.bridge.timeouts == 1
    # The controller's retry goes out again and can still be acknowledged.
    rig.bridge.ack_timeout_ms = 10000  # no race with a loaded machine from here on
    rig.fleet.command(1, 9000, ticks_ms())
    rig.until(lambda: len(rig.commands) == 2, "the retry")
    rig.say("silent/116180216734/status/limit_absolute", "900")
    rig.until(lambda: rig.fleet.cmd_state[1] == fleet.CMD_ACKED, "the ack of the retry")
    rig.close()


def test_a_row_on_another_link_is_left_to_it(broker):
    """A SunSpec inverter beside the DTU's: the bridge neither commands it nor times out what its link sent."""
    rig = Rig(broker, OPENDTU, "mixed", [SERIALS[0], None], ack_timeout_ms=300)
    rig.start("mixed/#")
    now = ticks_ms()
    rig.fleet.command(1, 9000, now)  # queued first: the bridge must step past it
    rig.fleet.command(0, 6000, now)
    rig.until(lambda: rig.commands, "the DTU row's limit")
    rig.fleet.sent(1, ticks_ms())  # as the SunSpec link does
    rig.until(lambda: rig.fleet.cmd_state[0] == fleet.CMD_FAILED, "the DTU row's ack timeout")
    assert rig.commands == [("mixed/114190641177/cmd/limit_nonpersistent_absolute", b"600")]
    assert rig.fleet.cmd_state[1] == fleet.CMD_SENT and rig.bridge.timeouts == 1
    rig.close()


def test_unreachable_inverter_fails_its_pending_command_at_once(broker):
    rig = Rig(broker, OPENDTU, "night", SERIALS)
    rig.start("night/+/cmd/#")
    rig.fleet.command(0, 3000, ticks_ms())
    rig.until(lambda: rig.commands, "the limit command")
    rig.say("night/114190641177/status/reachable", "0")
    rig.until(lambda: rig.fleet.cmd_state[0] == fleet.CMD_FAILED, "the failure")
    assert rig.bridge.reachable[0] == 0 and rig.bridge.reachable[1] == 1
    rig.say("night/114190641177/status/reachable", "1")
    rig.until(lambda: rig.bridge.reachable[0] == 1, "reachable again")
    rig.close()


MALFORMED = [
    ("0/power", "nan"),
    ("0/power", "1e3"),
    ("0/power", ""),
    ("0/power", "-5"),
    ("0/power", "1000.1"),  # above 125 % of 800 W
    ("0/power", "99999999"),
    ("0/power", '{"power": 5}'),
    ("0/power", "12."),
    ("0/power", " 12"),
    ("0/power", "12,5"),
    ("status/limit_absolute", "600 W"),
    ("status/limit_absolute", "65536"),
    ("status/limit_absolute", "true"),  # OpenDTU echoes a number; "true" is AhoyDTU's
    ("status/reachable", "2"),
    ("status/reachable", "yes"),
]


def test_malformed_payloads_are_counted_and_change_nothing(broker):
    rig = Rig(broker, OPENDTU, "junk", SERIALS)
    rig.start("junk/+/cmd/#")
    rig.fleet.command(0, 6000, ticks_ms())
    rig.until(lambda: rig.commands, "the limit command")
    before = rig.snapshot()
    for suffix, payload in MALFORMED:
        rig.say("junk/114190641177/" + suffix, payload)
    rig.until(lambda: rig.bridge.malformed == len(MALFORMED), "every malformed payload")
    assert rig.snapshot() == before
    assert rig.bridge.reports == 0 and rig.bridge.acks == 0 and rig.bridge.reachable[0] == 1
    assert rig.session.drops == 0  # a bad payload is not a bad packet: the connection stays
    rig.close()


def test_retained_reports_are_stale_and_ignored(broker):
    dtu = mqtt.MQTTClient("dtu-before", broker.host, broker.port)
    dtu.connect()
    # QoS 1: stored by the broker before the bridge subscribes.
    dtu.publish("old/114190641177/0/power", "700.0", retain=True, qos=1)
    dtu.publish("old/114190641177/status/limit_absolute", "600.00", retain=True, qos=1)
    dtu.publish("old/114190641177/status/reachable", "0", retain=True, qos=1)
    rig = Rig(broker, OPENDTU, "old", SERIALS)
    rig.start("old/+/cmd/#")
    rig.until(lambda: rig.bridge.stale == 2 and rig.bridge.reachable[0] == 0, "the retained messages")
    assert rig.fleet.output_seq[0] == 0 and rig.bridge.reports == 0
    for topic in ("0/power", "status/limit_absolute", "status/reachable"):
        dtu.publish("old/114190641177/" + topic, "", retain=True)
    dtu.disconnect()
    rig.close()


def test_ahoydtu_limit_ack_and_power(broker):
    rig = Rig(broker, AHOYDTU, "inverter", ["0", "1"], ["HM-800", "HM-1500"])
    rig.start("inverter/ctrl/#")
    now = ticks_ms()
    rig.fleet.command(0, 4000, now)
    rig.fleet.command(1, 12345, now)
    rig.until(lambda: len(rig.commands) == 2, "two limit commands")
    assert sorted(rig.commands) == [("inverter/ctrl/limit/0", b"400W"), ("inverter/ctrl/limit/1", b"1234W")]
    rig.say("inverter/HM-800/ack_pwr_limit", "true")  # AhoyDTU up to 0.8
    rig.say("inverter/HM-1500/ack_pwr_limit", "1234.0")  # newer AhoyDTU echo the limit
    rig.say("inverter/HM-800/ch0/P_AC", "71.000")
    rig.until(lambda: rig.bridge.acks == 2 and rig.bridge.reports == 1, "the acks and the report")
    assert list(rig.fleet.cmd_state) == [fleet.CMD_ACKED, fleet.CMD_ACKED]
    assert rig.fleet.output_dw[0] == 710
    rig.say("inverter/HM-800/available", "4")  # "was available"
    rig.until(lambda: rig.bridge.reachable[0] == 0, "unavailable")
    rig.close()


def test_commands_wait_in_the_queue_while_the_broker_is_away():
    table = fleet.Fleet(1)
    table.add(0, rated_w=800)
    session = Session(mqtt.MQTTClient("alone", "127.0.0.1", broker_process.free_port(), timeout_ms=300))
    bridge = DtuBridge(session, table, OPENDTU, "solar", SERIALS[:1])
    table.command(0, 5000, 0)
    session.poll(10)
    bridge.poll(10)
    assert table.cmd_state[0] == fleet.CMD_QUEUED and bridge.commands == 0


def test_configuration_errors_are_refused():
    table = fleet.Fleet(2)
    session = Session(mqtt.MQTTClient("cfg", "127.0.0.1", 1))
    with pytest.raises(ValueError):
        DtuBridge(session, table, OPENDTU, "solar", SERIALS[:1])
    with pytest.raises(ValueError):
        DtuBridge(session, table, AHOYDTU, "inverter", ["0", "1"])
    with pytest.raises(ValueError):
        DtuBridge(session, table, 7, "x", SERIALS)
