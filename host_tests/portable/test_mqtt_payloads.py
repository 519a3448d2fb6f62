"""DTU payload parsing and the telemetry messages, on CPython and the unix port alike."""

import json

import allocs
import controller
import events
import fleet
import mqtt
import mqtt_bridge
import reading
import telemetry
from mqtt_bridge import NOT_A_NUMBER, parse_dw
from mqtt_session import Session
from testkit import micropython_only


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


def test_watts_are_exact_fixed_point_text():
    assert telemetry.watts(0) == "0.0"
    assert telemetry.watts(5123) == "512.3"
    assert telemetry.watts(-5) == "-0.5"
    assert telemetry.watts(-12345) == "-1234.5"


def plant():
    meter = reading.Reading(3)
    table = fleet.Fleet(2)
    table.add(0, rated_w=800, phase=0, inputs=2)
    table.add(1, rated_w=1500, phase=1, inputs=4)
    regulator = controller.Controller(table, export_limit_w=0)
    ring = events.EventRing(4)
    session = Session(mqtt.MQTTClient("em", "127.0.0.1"))
    return meter, table, regulator, ring, telemetry.Telemetry(session, meter, table, regulator, events=ring)


def test_state_is_null_without_a_valid_reading():
    meter, table, regulator, ring, sender = plant()
    state = json.loads(sender.state_json())
    assert state["mode"] == "starting"
    assert state["grid_power_w"] is None and state["grid_power_l3_w"] is None
    assert state["pv_power_w"] is None  # no inverter reported yet
    assert state["export_limit_w"] == 0
    assert state["inverter_limit_w"] == 2300  # both rated limits
    assert state["import_energy_wh"] is None
    assert state["inverter_1_power_w"] is None


def test_state_carries_the_plant_in_watts():
    meter, table, regulator, ring, sender = plant()
    meter.valid = True
    meter.seq = 1
    meter.t_ms = 1000
    meter.power_dw = -123
    for phase, value in enumerate((-500, 300, 77)):
        meter.phase_power_dw[phase] = value
    meter.import_wh = 123456
    meter.export_wh = 654321
    table.report_output(0, 6001, 900)
    table.report_output(1, 2000, 900)
    regulator.step(1000, meter)
    ring.push(events.TRIP, 5, 2)
    ring.push(events.TRIP, 6)
    for _ in range(4):
        ring.push(events.BOOT, 7)  # overflows the ring of 4
    state = json.loads(sender.state_json())
    assert state["mode"] == "regulating"
    assert state["grid_power_w"] == -12.3
    assert [state["grid_power_l%d_w" % n] for n in (1, 2, 3)] == [-50.0, 30.0, 7.7]
    assert state["pv_power_w"] == 800.1
    assert state["inverter_1_power_w"] == 600.1 and state["inverter_2_power_w"] == 200.0
    assert state["inverter_limit_w"] * 10 == table.target_dw[0] + table.target_dw[1]
    assert state["import_energy_wh"] == 123456 and state["export_energy_wh"] == 654321
    assert state["events_lost"] == 2


def test_discovery_announces_every_state_field_to_home_assistant():
    meter, table, regulator, ring, sender = plant()
    fields = [name for name, _ in sender.fields()]
    configs = sender.discovery()
    topics = [topic for topic, _ in configs]
    assert "homeassistant/sensor/export_manager/grid_power_w/config" in topics
    assert len(set(topics)) == len(topics)
    for topic, payload in configs:
        config = json.loads(payload)
        field = topic.split("/")[3]
        assert field in fields
        assert config["value_template"] == "{{ value_json.%s }}" % field
        assert config["state_topic"] == "export_manager/export_manager/state"
        assert config["availability_topic"] == "export_manager/export_manager/status"
        assert config["unique_id"] == "export_manager_" + field
        assert config["device"]["identifiers"] == ["export_manager"]
        if field.endswith("_w"):
            assert (config["device_class"], config["state_class"], config["unit_of_measurement"]) == (
                "power",
                "measurement",
                "W",
            )
        elif field.endswith("_wh"):
            assert (config["device_class"], config["state_class"], config["unit_of_measurement"]) == (
                "energy",
                "total_increasing",
                "Wh",
            )
        else:
            assert field == "mode" and config["options"] == ["starting", "failsafe", "regulating"]
    assert len(configs) == len(fields) - 1  # every field but events_lost


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
