"""DTU payload parsing and the telemetry messages, on CPython and the unix port alike."""

import json

import allocs
import controller
import events
import fleet
import json_stream
import mqtt
import mqtt_bridge
import outbox
import plant_status
import reading
import supervisor
import telemetry
from fragment import fragment
from mqtt_bridge import NOT_A_NUMBER, parse_dw
from mqtt_session import Session
from testkit import micropython_only, raises


def as_json(document):
    """The document as the client streams it, parsed back."""
    text = b"".join(json_stream.pieces(document))
    assert len(text) == json_stream.size(document)
    return json.loads(text)


def test_streamed_json_is_the_document():
    document = {"a": [1, -2, None, True, False], "b": {}, "c": [], "d": 'quote " and \\ and é', "e": {"f": (3,)}}
    assert as_json(document) == {"a": [1, -2, None, True, False], "b": {}, "c": [], "d": 'quote " and \\ and é',
                                 "e": {"f": [3]}}
    try:
        json_stream.size({"x": 1.5})
    except TypeError:
        pass
    else:
        raise AssertionError("a float must be refused")


def test_decimal_payloads_become_deci_watts():
    assert parse_dw(b"600") == 6000
    assert parse_dw(b"600.00") == 6000
    assert parse_dw(b"512.3") == 5123
    assert parse_dw(b"512.34") == 5123
    assert parse_dw(b"512.35") == 5124  # half away from zero
    assert parse_dw(b"71.000") == 710
    assert parse_dw(b"0.05") == 1
    assert parse_dw(b"-12.36") == -124
    assert parse_dw(b"9999999.9") == 99999999


def test_anything_else_is_not_a_number():
    for payload in (
        b"",
        b"-",
        b".5",
        b"12.",
        b"1e3",
        b"nan",
        b"inf",
        b" 12",
        b"12 ",
        b"12,5",
        b"1.2.3",
        b"--1",
        b"12345678",
        b"true",
        b'{"v": 1}',
        b"0x10",
        b"+5",
    ):
        assert parse_dw(payload) == NOT_A_NUMBER, payload


@micropython_only
def test_parsing_allocates_nothing():
    def parse():
        parse_dw(b"1499.96")
        parse_dw(b"nan")

    allocs.assert_free(parse)


def plant(phases=3, with_controller=True, watch=None):
    meter = reading.Reading(phases)
    table = fleet.Fleet(2)
    table.add(0, rated_w=800, phase=0, inputs=2)
    table.add(1, rated_w=1500, phase=1, inputs=4)
    regulator = controller.Controller(table, export_limit_w=0) if with_controller else None
    ring = events.EventRing(4)
    session = Session(mqtt.MQTTClient("em", "127.0.0.1"))
    status = plant_status.PlantStatus(meter, table, regulator, supervisor=watch)
    return meter, table, regulator, ring, telemetry.Telemetry(session, status, events=ring)


def value_at(document, template):
    """What Home Assistant's value_template "{{ value_json.a.b[0] / 10 }}" picks out of the document."""
    assert template.startswith("{{ value_json.") and template.endswith(" }}"), template
    expression = template[len("{{ value_json.") : -len(" }}")]
    path, _, divisor = expression.partition(" / ")
    value = document
    for part in path.split("."):
        name, _, index = part.partition("[")
        value = value[name]
        if index:
            value = value[int(index[:-1])]
    return value / int(divisor) if divisor else value


def test_discovery_templates_pick_values_out_of_the_state():
    meter, table, regulator, ring, sender = plant()
    meter.valid = True
    meter.seq = 1
    meter.t_ms = 1000
    meter.power_dw = -123
    for phase, value in enumerate((-500, 300, 77)):
        meter.phase_power_dw[phase] = value
        meter.voltage_dv[phase] = 2301 + phase
    meter.frequency_chz = 4998
    meter.import_wh = 123456
    meter.export_wh = 654321
    table.report_output(0, 6001, 900)
    regulator.step(1000, meter)
    state = as_json(sender.state(1000))
    values = {}
    for topic, payload in sender.discovery(1000):
        config = as_json(payload)
        values[topic.split("/")[3]] = value_at(state, config["value_template"])
    assert values["grid_power_w"] == -12
    assert [values["grid_power_l%d_w" % n] for n in (1, 2, 3)] == [-50, 30, 8]
    assert values["grid_voltage_l2_v"] == 230.2
    assert values["grid_frequency_hz"] == 49.98
    assert values["pv_power_w"] == 600
    assert values["inverter_1_power_w"] == 600 and values["inverter_2_power_w"] is None
    assert values["inverter_limit_w"] == values["inverter_1_limit_w"] + values["inverter_2_limit_w"]
    assert values["import_energy_wh"] == 123456 and values["export_energy_wh"] == 654321
    assert values["mode"] == "regulating"
    assert values["export_limit_w"] == 0


def test_discovery_configs_are_complete_home_assistant_sensors():
    meter, table, regulator, ring, sender = plant()
    configs = list(sender.discovery())
    topics = [topic for topic, _ in configs]
    assert "homeassistant/sensor/export_manager/grid_power_w/config" in topics
    # 8 grid, PV, 3 controller values and its mode, 2 energy, 2 x 2 inverters
    assert len(set(topics)) == len(topics) == 19
    kinds = {
        "_w": ("power", "measurement", "W"),
        "_wh": ("energy", "total_increasing", "Wh"),
        "_v": ("voltage", "measurement", "V"),
        "_hz": ("frequency", "measurement", "Hz"),
    }
    for topic, payload in configs:
        config = as_json(payload)
        field = topic.split("/")[3]
        assert config["state_topic"] == "export_manager/export_manager/state"
        assert config["availability"][0] == {"topic": "export_manager/export_manager/status"}
        assert config["availability_mode"] == "all"
        assert (len(config["availability"]) == 2) == (field.startswith("grid_") or field == "load_power_w")
        assert config["unique_id"] == "export_manager_" + field
        assert config["device"]["identifiers"] == ["export_manager"]
        assert config["expire_after"] == 30
        if field == "mode":
            assert config["device_class"] == "enum" and config["options"] == ["starting", "failsafe", "regulating"]
            continue
        kind = kinds["_" + field.rsplit("_", 1)[1]]
        assert (config["device_class"], config["state_class"], config["unit_of_measurement"]) == kind


def test_the_supervisor_state_is_announced_with_a_grid_side_meter():
    watch = supervisor.Supervisor(events.EventRing(4), 0)
    meter, table, regulator, ring, sender = plant(watch=watch)
    configs = {topic.split("/")[3]: as_json(payload) for topic, payload in sender.discovery()}
    config = configs["supervisor"]
    assert config["device_class"] == "enum" and config["options"] == ["ok", "excursion", "lockout", "commissioning"]
    watch.lockout_left_s = 600
    assert value_at(as_json(sender.state(0)), config["value_template"]) == "lockout"
    assert "supervisor" not in [topic.split("/")[3] for topic, _ in plant()[4].discovery()]  # load-side meter


def test_discovery_announces_only_what_the_plant_has():
    meter, table, regulator, ring, sender = plant(phases=1, with_controller=False)
    fields = [topic.split("/")[3] for topic, _ in sender.discovery()]
    assert "grid_power_l1_w" not in fields and "grid_voltage_l1_v" in fields and "grid_voltage_l2_v" not in fields
    assert "mode" not in fields and "export_limit_w" not in fields
    assert "inverter_2_power_w" in fields


def test_bridge_topics_follow_the_dtu_documentation():
    table = fleet.Fleet(1)
    table.add(0, rated_w=800)
    session = Session(mqtt.MQTTClient("em", "127.0.0.1"))
    opendtu = mqtt_bridge.DtuBridge(session, table, mqtt_bridge.OPENDTU, "solar/", ["114190641177"])
    assert opendtu.limit_topics == [b"solar/114190641177/cmd/limit_nonpersistent_absolute"]
    assert opendtu.ack_topics == [b"solar/114190641177/status/limit_absolute"]
    assert opendtu.power_topics == [b"solar/114190641177/0/power"]
    assert opendtu.reachable_topics == [b"solar/114190641177/status/reachable"]
    ahoy = mqtt_bridge.DtuBridge(session, table, mqtt_bridge.AHOYDTU, "inverter", ["0"], ["HM-800"])
    assert ahoy.limit_topics == [b"inverter/ctrl/limit/0"]
    assert ahoy.ack_topics == [b"inverter/HM-800/ack_pwr_limit"]
    assert ahoy.power_topics == [b"inverter/HM-800/ch0/P_AC"]
    assert ahoy.reachable_topics == [b"inverter/HM-800/available"]


@micropython_only
def test_bridge_handles_a_message_without_allocating():
    table = fleet.Fleet(4)
    for index in range(4):
        table.add(index, rated_w=800)
    session = Session(mqtt.MQTTClient("em", "127.0.0.1"))
    serials = ["11419064117%d" % index for index in range(4)]
    bridge = mqtt_bridge.DtuBridge(session, table, mqtt_bridge.OPENDTU, "solar", serials)
    power = bridge.power_topics[3]
    echo = bridge.ack_topics[2]
    handle = bridge._on_message

    def messages():
        handle(power, b"512.3")
        handle(echo, b"600.00")
        handle(power, b"nan")

    allocs.assert_free(messages)
    assert table.output_dw[3] == 5123 and bridge.malformed > 0


class TrickleSocket:
    """Takes at most `per_call` bytes per send and refuses every third call, as a slow peer's socket does."""

    def __init__(self, per_call):
        self.per_call = per_call
        self.calls = 0
        self.got = bytearray()

    def send(self, data):
        self.calls += 1
        if self.calls % 3 == 0:
            raise OSError(outbox.errno.EAGAIN)
        count = min(self.per_call, len(data))
        self.got += bytes(data[:count])
        return count


def test_outbox_streams_pieces_larger_than_itself_in_order():
    box = outbox.Outbox(16)
    pieces = [b"0123456789" * 5, b"", b"ab", b"c" * 17]
    sock = TrickleSocket(7)
    assert box.stream(b"HEAD", pieces) and not box.idle
    assert not box.put(b"x") and not box.stream(b"y", [])  # one message at a time
    for _ in range(100):
        if box.flush(sock):
            break
    assert bytes(sock.got) == b"HEAD" + b"".join(pieces) and box.empty
    assert box.put(b"\xc0\x00")
    raises(OSError, box.flush, Broken())


class Broken:
    def send(self, data):
        raise OSError(104)  # ECONNRESET: not "would block", so the owner sees it


@micropython_only
def test_a_fragmented_heap_still_publishes_the_state():
    import random
    import socket
    import time

    meter, table, regulator, ring, sender = plant()
    port = 20000 + random.getrandbits(12)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    listener.listen(1)
    client = mqtt.MQTTClient("em", "127.0.0.1", port)
    client.begin_connect()
    broker, _ = listener.accept()  # this test is the broker
    broker.setblocking(False)
    received = bytearray(4096)
    try:
        client.check_msg()  # sends CONNECT
        connect_bytes = len(broker.recv(64))
        broker.send(b"\x20\x02\x00\x00")
        while not client.connected:
            client.check_msg()
        got = connect_bytes
        document = sender.state(0)
        size = json_stream.size(document)
        filler = fragment(256)  # no half kilobyte in one block; the state is larger
        assert client.publish("em/state", document)
        for _ in range(2000):
            client.check_msg()
            try:
                data = broker.recv(256)
            except OSError:  # EAGAIN: nothing there yet
                data = b""
            received[got : got + len(data)] = data
            got += len(data)
            if got - connect_bytes >= size + 11 and client._out.empty:  # header + "em/state" + the JSON
                break
            time.sleep_ms(1)  # the last segment may wait for an ACK (Nagle)
        filler = None  # noqa: F841 - the heap is whole again
    finally:
        client.close()
        broker.close()
        listener.close()
    packet = bytes(received[connect_bytes:got])
    assert packet[0] == 0x30 and packet.endswith(b"}")
    assert json.loads(packet[packet.index(b"{"):]) == as_json(document)
    assert size > 600, size
