"""The gateway's MQTT side as the firmware wires it, run under the MicroPython unix port.

`micropython mp_mqtt_gateway.py PORT` (MICROPYPATH=lib:host_tests/support)
connects to the broker on 127.0.0.1:PORT with a real Reading, Fleet,
Controller, PlantStatus and EventRing, bridges one inverter to an OpenDTU at prefix
"mpdtu" and publishes telemetry as node "mp_em" every second. It commands a
600 W limit and runs until the DTU acknowledged it, reported AC power and a
state message carrying that power went out; then it shuts down cleanly and
prints one JSON line of counters. Started by host_tests/test_mqtt_telemetry.py.
"""

import json
import sys
import time

import events
from compat import ticks_diff, ticks_ms
from controller import Controller
from fleet import CMD_ACKED, Fleet
from mqtt import MQTTClient
from mqtt_bridge import OPENDTU, DtuBridge
from mqtt_session import Session
from plant_status import PlantStatus
from reading import Reading
from telemetry import Telemetry

DEADLINE_MS = 15000


def main():
    port = int(sys.argv[1])
    meter = Reading(3)
    table = Fleet(1)
    table.add(0, rated_w=800, phase=0, inputs=2)
    regulator = Controller(table, export_limit_w=0)
    ring = events.EventRing(8)
    start = ticks_ms()
    ring.push(events.BOOT, start)
    session = Session(MQTTClient("mp-gateway", "127.0.0.1", port, keepalive=30))
    bridge = DtuBridge(session, table, OPENDTU, "mpdtu", ["114190641177"], ack_timeout_ms=5000)
    status = PlantStatus(meter, table, regulator)
    sender = Telemetry(session, status, events=ring, node_id="mp_em", telemetry_period_s=1, bridge=bridge)
    meter.valid = True
    meter.power_dw = 2000
    meter.phase_power_dw[0] = 2000
    meter.import_wh = 42
    meter.seq = 1
    meter.t_ms = start
    regulator.step(start, meter)
    table.command(0, 6000, start)
    published_with_report = -1
    while ticks_diff(ticks_ms(), start) < DEADLINE_MS:
        now = ticks_ms()
        meter.t_ms = now
        session.poll(now)
        bridge.poll(now)
        sender.poll(now)
        if table.output_seq[0] and published_with_report < 0:
            published_with_report = max(2, sender.published + 1)  # and at least one period repeated
        if table.cmd_state[0] == CMD_ACKED and 0 < published_with_report <= sender.published:
            break
        time.sleep_ms(5)
    sender.close()
    result = {
        "acked": table.cmd_state[0] == CMD_ACKED,
        "output_dw": table.output_dw[0],
        "published": sender.published,
        "events_published": sender.events_published,
        "drops": session.drops,
        "malformed": bridge.malformed,
    }
    print(json.dumps(result))


main()
