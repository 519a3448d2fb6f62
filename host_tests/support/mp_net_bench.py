"""The gateway's network side next to a control tick, under MicroPython: how late does the tick run?

`micropython mp_net_bench.py BROKER_PORT HTTP_PORT SECONDS KEEPALIVE_S` runs,
in one task as on the ESP32 (the firmware's soft timers are scheduled
callbacks that never interrupt one another): a control tick every
TICK_MS (47 ms: over a run it falls due at every point of a pass; a real
Controller step on a Reading and a Fleet of 4 inverters)
and a service pass every SERVICE_MS (the MQTT session with telemetry every
second and the HTTP status server, as firmware/online.py wires them). A
tick due while a service pass runs starts when the pass ends: its delay is
what the network costs the control loop. The client's socket gets an
ESP32-sized send buffer (lwIP's TCP_SND_BUF, 5744 bytes), so a hung broker
fills it as soon as on the device.

It prints "up" once the broker accepted the connection (the driver then
freezes or kills the broker, or starts slow HTTP clients), then after
SECONDS one JSON line: tick delays (max, over 50 ms; wall clock, so they
include the host's own scheduling), the longest service pass and the
longest a due tick waited for one (the delay the network caused), the
MQTT counters and the time from "up" to the first drop.
Started by bench/net_faults.py.
"""

import json
import sys
import time

import http_status
import mqtt
import mqtt_session
import telemetry
from compat import ticks_add, ticks_diff, ticks_ms
from controller import Controller
from fleet import Fleet
from plant_status import PlantStatus
from reading import Reading

TICK_MS = 47  # not a divisor of SERVICE_MS: ticks fall due at every point of a service pass
SERVICE_MS = 100
SO_SNDBUF = 7  # Linux
ESP32_SEND_BUFFER = 5744


def main():
    broker_port, http_port, seconds, keepalive_s = (int(arg) for arg in sys.argv[1:5])
    meter = Reading(3)
    table = Fleet(4)
    for index in range(4):
        table.add(index, rated_w=800, phase=index % 3, inputs=2)
    regulator = Controller(table, export_limit_w=0)
    status = PlantStatus(meter, table, regulator)
    client = mqtt.MQTTClient("bench", "127.0.0.1", broker_port, keepalive=keepalive_s, timeout_ms=1000)
    session = mqtt_session.Session(client, retry_ms=2000)
    sender = telemetry.Telemetry(session, status, node_id="bench", telemetry_period_s=1)
    server = http_status.StatusServer(status.snapshot, lambda watts: None, {}.get, port=http_port, host="127.0.0.1")
    tuned = None
    said_up = False
    start = ticks_ms()
    tick_due = ticks_add(start, TICK_MS)
    service_due = start
    worst_tick_ms = 0
    late_ticks = 0
    ticks = 0
    worst_pass_ms = 0
    worst_wait_ms = 0  # the longest a due tick waited for a service pass to end
    up_ms = start
    first_drop_ms = -1
    drops = 0
    end = ticks_add(start, seconds * 1000)
    while ticks_diff(ticks_ms(), end) < 0 or not said_up:
        now = ticks_ms()
        if ticks_diff(now, tick_due) >= 0:
            delay = ticks_diff(now, tick_due)
            worst_tick_ms = max(worst_tick_ms, delay)
            late_ticks += delay > 50
            ticks += 1
            meter.seq += 1
            meter.valid = True
            meter.t_ms = now
            meter.power_dw = 1000 - (ticks % 7) * 100
            regulator.step(now, meter)
            tick_due = ticks_add(tick_due, TICK_MS)
            while ticks_diff(now, tick_due) >= 0:  # a period wholly missed is a delay too, counted once
                tick_due = ticks_add(tick_due, TICK_MS)
        elif ticks_diff(now, service_due) >= 0:
            service_due = ticks_add(service_due, SERVICE_MS)
            session.poll(now)
            sender.poll(now)
            server.poll(now)
            done = ticks_ms()
            worst_pass_ms = max(worst_pass_ms, ticks_diff(done, now))
            if ticks_diff(done, tick_due) > 0:  # the tick fell due during the pass and waited for it
                waited = ticks_diff(done, tick_due if ticks_diff(tick_due, now) > 0 else now)
                worst_wait_ms = max(worst_wait_ms, waited)
            if client.sock is not None and client.sock is not tuned:
                tuned = client.sock
                client.sock.setsockopt(1, SO_SNDBUF, ESP32_SEND_BUFFER)
            if session.drops != drops:
                drops = session.drops
                if first_drop_ms < 0 and said_up:
                    first_drop_ms = ticks_diff(ticks_ms(), up_ms)
            if session.connected and not said_up:
                said_up = True
                print("up")
                up_ms = ticks_ms()
                end = ticks_add(up_ms, seconds * 1000)
                worst_tick_ms = late_ticks = worst_pass_ms = worst_wait_ms = 0
        else:
            time.sleep_ms(1)
    result = {
        "ticks": ticks,
        "worst_tick_delay_ms": worst_tick_ms,
        "ticks_over_50ms": late_ticks,
        "worst_service_pass_ms": worst_pass_ms,
        "worst_wait_for_network_ms": worst_wait_ms,
        "published": sender.published,
        "drops": session.drops,
        "first_drop_after_up_ms": first_drop_ms,
        "last_error": repr(session.last_error),
        "http_served": server.served,
        "http_errors": server.errors,
        "http_evicted": server.evicted,
    }
    print(json.dumps(result))
    server.close()


main()
