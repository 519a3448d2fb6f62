"""Cost of the MQTT side off the control tick: DTU payload parsing, message dispatch, telemetry text.

No broker is needed: the bridge's message handler and telemetry's builders
are called directly, as the client would call them for each message/period.
"""

import allocs
import json_stream
from compat import ticks_diff, ticks_us
from controller import Controller
from fleet import Fleet
from mqtt import MQTTClient
from mqtt_bridge import OPENDTU, DtuBridge, parse_dw
from mqtt_session import Session
from plant_status import PlantStatus
from reading import Reading
from telemetry import Telemetry

INVERTERS = 4


def timed(label, function, rounds):
    start = ticks_us()
    for _ in range(rounds):
        function()
    elapsed_us = ticks_diff(ticks_us(), start)
    report = allocs.measure(function, 100)
    print(
        "%s: %d us per call (unix port), %d bytes allocated per call"
        % (label, elapsed_us // rounds, report.bytes_allocated // report.calls)
    )


table = Fleet(INVERTERS)
for index in range(INVERTERS):
    table.add(index, rated_w=800, phase=index % 3, inputs=2)
session = Session(MQTTClient("bench", "127.0.0.1"))
serials = ["1141906411%02d" % index for index in range(INVERTERS)]
bridge = DtuBridge(session, table, OPENDTU, "solar", serials)
last_power_topic = bridge.power_topics[-1]
meter = Reading(3)
meter.valid = True
status = PlantStatus(meter, table, Controller(table))
sender = Telemetry(session, status)


def parse():
    parse_dw(b"1499.96")


def dispatch():
    bridge._on_message(last_power_topic, b"512.3")  # the worst case: the last inverter's topic


def state():
    for _ in json_stream.pieces(sender.state(0)):
        pass


def discovery():
    for _, config in sender.discovery(0):
        for _ in json_stream.pieces(config):
            pass


timed("parse_dw", parse, 5000)
timed("bridge: one power report (%d inverters)" % INVERTERS, dispatch, 2000)
size = json_stream.size(sender.state(0))
timed("telemetry: state JSON streamed in pieces (%d inverters, %d bytes)" % (INVERTERS, size), state, 200)
timed("telemetry: all %d discovery configs" % len(list(sender.discovery(0))), discovery, 20)
