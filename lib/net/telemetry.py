"""MQTT telemetry with Home Assistant discovery: the plant's state every `telemetry_period_s`.

    status = PlantStatus(reading, fleet, controller, meter, energy)   # lib/status/plant_status.py
    telemetry = Telemetry(session, status, events=ring, node_id="em_garage")
    # main loop, outside the control tick:
    session.poll(now_ms); telemetry.poll(now_ms)

The state message is the very document the HTTP endpoint `/api/status`
serves (`PlantStatus.snapshot`), so a field has one name everywhere: grid
power total and per phase, voltages, frequency, PV power, load, the export
limit, the sum of the inverter limits, controller mode, each inverter's limit
and output, and the energy counters. Two link sections are added: "mqtt"
(connects, drops) and, given the DTU bridge, "dtu" (its counters).

Topics (base = `<prefix>/<node_id>`, prefix "export_manager" by default):

- `<base>/state`: the snapshot as JSON every period (not retained).
- `<base>/status`: `online` (retained) at connect; the broker publishes
  `offline` (retained, the last will) when the gateway vanishes, and `close()`
  does so on a clean shutdown. Home Assistant greys the entities out.
- `<base>/events`: one JSON object per event from the event ring, e.g.
  `{"event": "trip", "kind": 8, "t_ms": 123456, "a": 2, "b": 0}` (not retained).
- `<discovery_prefix>/sensor/<node_id>/<object>/config` (retained, at every
  connect): Home Assistant MQTT discovery, one sensor per value, grouped under
  one device; a `value_template` picks the value out of the state document.
  Grid values are also unavailable while the meter reading is invalid.

Device notes: telemetry runs OUTSIDE the control tick, never in it, and
never waits on the broker. Each period it takes the snapshot (a dict of
small objects) and hands it to the client, which writes it as JSON in small
pieces into its preallocated send buffer as the socket takes them
(json_stream.py, outbox.py): no block of the message's size (~1 KB for a few
inverters) is ever needed. While the previous message is still going out
(a slow or hung broker, or while connecting) the state waits for the next
poll and events wait in a queue of 8 (the oldest is dropped and counted in
`events_dropped` when it overflows). After a connect the discovery configs (one
message of ~600 bytes per sensor) go out one per poll while the send buffer
is free; the sensor list is kept until the last one is out.
The control tick only writes into Reading, Fleet and the controller; this
module and PlantStatus only read them.
"""

from compat import ticks_add, ticks_diff
from events import EventRing
from status_names import MODE_NAMES, SUPERVISOR_STATES, eventlog_name

# (device_class, state_class, unit_of_measurement) of a Home Assistant sensor; an enum has its options instead
_POWER = ("power", "measurement", "W")
_ENERGY = ("energy", "total_increasing", "Wh")
_VOLTAGE = ("voltage", "measurement", "V")
_FREQUENCY = ("frequency", "measurement", "Hz")
_MODE = ("enum", None, MODE_NAMES)
_SUPERVISOR = ("enum", None, SUPERVISOR_STATES)
_GRID_VALID = "{{ 'online' if value_json.grid.valid else 'offline' }}"


class Telemetry:
    def __init__(
        self,
        session,
        status,
        events=None,
        node_id="export_manager",
        prefix="export_manager",
        discovery_prefix="homeassistant",
        telemetry_period_s=10,
        device_name="Export manager",
        sw_version="0.1.0",
        bridge=None,
    ):
        self.session = session
        self.status = status
        self.events = events
        self.bridge = bridge
        self.node_id = node_id
        self.discovery_prefix = discovery_prefix
        self.period_ms = telemetry_period_s * 1000
        self.expire_after_s = 3 * telemetry_period_s
        self.device = {
            "identifiers": [node_id],
            "name": device_name,
            "manufacturer": "export-manager",
            "model": "ESP32 export manager",
            "sw_version": sw_version,
        }
        base = prefix.rstrip("/") + "/" + node_id
        self.state_topic = base + "/state"
        self.status_topic = base + "/status"
        self.events_topic = base + "/events"
        self.published = 0
        self.events_published = 0
        self._outbound = EventRing(8)  # events waiting for the broker (connecting, send buffer busy)
        self._due_ms = None  # None: at the next poll
        self._announcing = None  # the sensors still to announce after a connect
        self._announced = -1
        session.client.set_last_will(self.status_topic, "offline", retain=True)
        session.on_connect(self.announce)

    # -- what is published ----------------------------------------------------------------------

    def state(self, now_ms):
        """The status snapshot, plus the link counters: "mqtt" always, "dtu" with a bridge."""
        snapshot = self.status.snapshot(now_ms)
        session = self.session
        snapshot["mqtt"] = {"connects": session.connects, "drops": session.drops}
        bridge = self.bridge
        if bridge is not None:
            snapshot["dtu"] = {
                "commands": bridge.commands,
                "acks": bridge.acks,
                "timeouts": bridge.timeouts,
                "reports": bridge.reports,
                "malformed": bridge.malformed,
                "stale": bridge.stale,
                "reachable": list(bridge.reachable),
            }
        return snapshot

    def sensors(self, now_ms):
        """(object id, name, value path in the state, (device_class, state_class, unit), grid?) per sensor.

        Built from a snapshot, so only what this plant has is announced (phases,
        inverters, PV energy, a controller). Grid sensors are unavailable while
        the reading is invalid.
        """
        snapshot = self.status.snapshot(now_ms)
        out = [("grid_power_w", "Grid power", "grid.power_w", _POWER, True)]
        phases = len(snapshot["grid"]["phase_power_w"])
        for phase in range(phases if phases > 1 else 0):
            label = "l%d" % (phase + 1)
            path = "grid.phase_power_w[%d]" % phase
            out.append(("grid_power_%s_w" % label, "Grid power " + label.upper(), path, _POWER, True))
        for phase in range(phases):
            label = "l%d" % (phase + 1)
            path = "grid.voltage_dv[%d] / 10" % phase
            out.append(("grid_voltage_%s_v" % label, "Grid voltage " + label.upper(), path, _VOLTAGE, True))
        out.append(("grid_frequency_hz", "Grid frequency", "grid.frequency_chz / 100", _FREQUENCY, True))
        out.append(("pv_power_w", "PV power", "pv_power_w", _POWER, False))
        if "load_power_w" in snapshot:  # with a controller
            out.append(("load_power_w", "Load power", "load_power_w", _POWER, True))
            out.append(("inverter_limit_w", "Inverter limit", "limit_total_w", _POWER, False))
            out.append(("export_limit_w", "Export limit", "export_limit_w", _POWER, False))
            out.append(("mode", "Controller state", "mode", _MODE, False))
        if snapshot.get("supervisor") is not None:  # a grid-side meter
            out.append(("supervisor", "Supervisor state", "supervisor.state", _SUPERVISOR, False))
        for name in snapshot["energy"]:
            label = name[:-3]  # import, export, pv
            title = "PV energy" if label == "pv" else "Grid %s energy" % label
            out.append(("%s_energy_wh" % label, title, "energy." + name, _ENERGY, False))
        for index in range(len(snapshot["inverters"])):
            number = index + 1
            path = "inverters[%d]." % index
            out.append(("inverter_%d_power_w" % number, "Inverter %d power" % number, path + "output_w", _POWER, False))
            out.append(("inverter_%d_limit_w" % number, "Inverter %d limit" % number, path + "limit_w", _POWER, False))
        return out

    def discovery(self, now_ms=0):
        """Yields (topic, config dict) of each Home Assistant discovery message, one at a time (RAM)."""
        for sensor in self.sensors(now_ms):
            yield self.config(sensor)

    def config(self, sensor):
        """(topic, config dict) of one sensor's discovery message."""
        object_id, name, path, kind, grid = sensor
        device_class, state_class, unit = kind
        availability = {"topic": self.status_topic}
        grid_availability = {"topic": self.state_topic, "value_template": _GRID_VALID}
        config = {
            "name": name,
            "unique_id": self.node_id + "_" + object_id,
            "default_entity_id": "sensor." + self.node_id + "_" + object_id,
            "state_topic": self.state_topic,
            "value_template": "{{ value_json.%s }}" % path,
            "availability": [availability, grid_availability] if grid else [availability],
            "availability_mode": "all",
            "expire_after": self.expire_after_s,
            "device_class": device_class,
            "device": self.device,
        }
        if state_class is None:
            config["options"] = list(unit)
        else:
            config["state_class"] = state_class
            config["unit_of_measurement"] = unit
        topic = "%s/sensor/%s/%s/config" % (self.discovery_prefix, self.node_id, object_id)
        return topic, config

    # -- when ------------------------------------------------------------------------------------

    def announce(self):
        """On every connect: "online", then the discovery configs and a state message over the next polls."""
        self._announcing = self.sensors(self.session.now_ms)
        self._announced = -1  # -1: "online" is next
        self._due_ms = None

    def poll(self, now_ms):
        """After session.poll(): send new events, the next discovery config, and the state when due."""
        session = self.session
        if not session.connected:
            return
        ring = self.events
        if ring is not None:
            while ring.pop():
                self._outbound.push(ring.last_kind, ring.last_t_ms, ring.last_a, ring.last_b)
        self._send_events()
        if self._announcing is not None:
            self._announce_next()
        elif self._due_ms is None or ticks_diff(now_ms, self._due_ms) >= 0:
            if session.publish(self.state_topic, self.state(now_ms)):
                self.published += 1
                self._due_ms = ticks_add(now_ms, self.period_ms)

    def _announce_next(self):
        sensors = self._announcing
        index = self._announced
        if index < 0:
            sent = self.session.publish(self.status_topic, "online", True)
        else:
            topic, config = self.config(sensors[index])
            sent = self.session.publish(topic, config, True)
        if sent:
            self._announced = index + 1
            if self._announced == len(sensors):
                self._announcing = None

    def publish_event(self, kind, t_ms, a=0, b=0):
        """Queue one event (eventlog.NAMES) for the events topic; it goes out as soon as the broker takes it."""
        self._outbound.push(kind, t_ms, a, b)
        self._send_events()

    @property
    def events_dropped(self):
        """Events pushed out of the full queue before the broker took them."""
        return self._outbound.lost

    def _send_events(self):
        queue = self._outbound
        while queue.count and self.session.connected:
            slot = (queue.head - queue.count) % queue.size
            kind = queue.kind[slot]
            payload = '{"event": "%s", "kind": %d, "t_ms": %d, "a": %d, "b": %d}' % (
                eventlog_name("NAMES", kind), kind, queue.t_ms[slot], queue.a[slot], queue.b[slot])
            if not self.session.publish(self.events_topic, payload):
                return
            queue.pop()
            self.events_published += 1

    def close(self):
        """Clean shutdown: say offline (the last will is only for vanishing) and disconnect."""
        if self.session.publish(self.status_topic, "offline", True):
            self.session.client.disconnect()
