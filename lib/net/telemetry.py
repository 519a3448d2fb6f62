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

Device notes: telemetry runs OUTSIDE the control tick, never in it: each
period builds the snapshot and its JSON text (about 1 KB for a few
inverters) and sends it, which allocates and can block while the socket's
send buffer is full; at connect it sends one discovery message of ~600 bytes
per sensor. The control tick only writes into Reading, Fleet and the
controller; this module and PlantStatus only read them.
"""

import json

from compat import ticks_add, ticks_diff
from events import NAMES
from plant_status import MODE_NAMES

# (device_class, state_class, unit_of_measurement) of a Home Assistant sensor
_POWER = ("power", "measurement", "W")
_ENERGY = ("energy", "total_increasing", "Wh")
_VOLTAGE = ("voltage", "measurement", "V")
_FREQUENCY = ("frequency", "measurement", "Hz")
_ENUM = ("enum", None, None)
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
        self.events_dropped = 0  # taken from the ring but not sent (the connection failed)
        self._due_ms = None  # None: at the next poll
        session.client.set_last_will(self.status_topic, "offline", retain=True)
        session.on_connect(self.announce)

    # -- what is published ----------------------------------------------------------------------

    def state_json(self, now_ms):
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
        return json.dumps(snapshot)

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
            path = "grid.voltage_v10[%d] / 10" % phase
            out.append(("grid_voltage_%s_v" % label, "Grid voltage " + label.upper(), path, _VOLTAGE, True))
        out.append(("grid_frequency_hz", "Grid frequency", "grid.frequency_chz / 100", _FREQUENCY, True))
        out.append(("pv_power_w", "PV power", "pv_power_w", _POWER, False))
        if "load_power_w" in snapshot:  # with a controller
            out.append(("load_power_w", "Load power", "load_power_w", _POWER, True))
            out.append(("inverter_limit_w", "Inverter limit", "limit_total_w", _POWER, False))
            out.append(("export_limit_w", "Export limit", "export_limit_w", _POWER, False))
            out.append(("mode", "Controller state", "mode", _ENUM, False))
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
        """Yields (topic, JSON payload) of each Home Assistant discovery message, one at a time (RAM)."""
        availability = {"topic": self.status_topic}
        grid_availability = {"topic": self.state_topic, "value_template": _GRID_VALID}
        for object_id, name, path, kind, grid in self.sensors(now_ms):
            device_class, state_class, unit = kind
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
                config["options"] = list(MODE_NAMES)
            else:
                config["state_class"] = state_class
                config["unit_of_measurement"] = unit
            topic = "%s/sensor/%s/%s/config" % (self.discovery_prefix, self.node_id, object_id)
            yield topic, json.dumps(config)

    # -- when ------------------------------------------------------------------------------------

    def announce(self):
        """On every connect: online, the discovery configs, and a state message at the next poll."""
        client = self.session.client
        client.publish(self.status_topic, "online", True)
        for topic, payload in self.discovery(self.session.now_ms):
            client.publish(topic, payload, True)
        self._due_ms = None

    def poll(self, now_ms):
        """After session.poll(): send new events, and the state when a period has passed."""
        if not self.session.connected:
            return
        ring = self.events
        if ring is not None:
            while ring.pop():
                self.publish_event(ring.last_kind, ring.last_t_ms, ring.last_a, ring.last_b)
        if self._due_ms is None or ticks_diff(now_ms, self._due_ms) >= 0:
            if self.session.publish(self.state_topic, self.state_json(now_ms)):
                self.published += 1
                self._due_ms = ticks_add(now_ms, self.period_ms)

    def publish_event(self, kind, t_ms, a=0, b=0):
        """One event (events.NAMES) on the events topic; for firmware that drains the ring itself."""
        name = NAMES.get(kind, "unknown")
        payload = '{"event": "%s", "kind": %d, "t_ms": %d, "a": %d, "b": %d}' % (name, kind, t_ms, a, b)
        if self.session.publish(self.events_topic, payload):
            self.events_published += 1
        else:
            self.events_dropped += 1

    def close(self):
        """Clean shutdown: say offline (the last will is only for vanishing) and disconnect."""
        if self.session.publish(self.status_topic, "offline", True):
            self.session.client.disconnect()
