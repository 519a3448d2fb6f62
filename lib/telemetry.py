"""MQTT telemetry with Home Assistant discovery: the plant's state every `telemetry_period_s`.

    telemetry = Telemetry(session, reading, fleet, controller, events=ring, node_id="em_garage")
    # main loop, outside the control tick:
    session.poll(now_ms); telemetry.poll(now_ms)

Topics (base = `<prefix>/<node_id>`, prefix "export_manager" by default):

- `<base>/state`: one JSON object every period (not retained), e.g.
  `{"mode": "regulating", "grid_power_w": -12.3, "grid_power_l1_w": ..., "pv_power_w": 803.0,
  "export_limit_w": 0.0, "inverter_limit_w": 820.0, "import_energy_wh": 123456, ...}`.
  Powers are watts with one decimal (exact: they are deci-watts underneath);
  grid values are null while the meter reading is invalid.
- `<base>/status`: `online` (retained) at connect; the broker publishes
  `offline` (retained, the last will) when the gateway vanishes, and `close()`
  does it on a clean shutdown. Home Assistant greys the entities out.
- `<base>/events`: one JSON object per event from the event ring, e.g.
  `{"event": "trip", "kind": 8, "t_ms": 123456, "a": 2, "b": 0}` (not retained).
- `<discovery_prefix>/sensor/<node_id>/<object>/config` (retained, at every
  connect): Home Assistant MQTT discovery, one sensor per state field, all
  grouped under one device.

What is read: `Reading` (grid power total and per phase, the meter's energy
registers), `Fleet` (inverter outputs and limits), the controller's `mode`,
`export_limit_dw` and `load_dw` (lib/controller.py), and optionally a second
`Reading` of a meter at the PV output (`pv_reading`: PV power is then its
absolute power, else the sum of the inverters' reported outputs) and an
`energy` object with `import_wh`, `export_wh` and `pv_wh` counters (persisted
ones) that then replaces the meter's registers.

Device notes: telemetry runs OUTSIDE the control tick, never in it: each
period builds one state string (a few hundred bytes plus a short-lived dict
per discovery message at connect) and sends it, which allocates and can block
for as long as the socket's send buffer is full. The control tick only ever
writes into Reading, Fleet and the controller; this module only reads them.
"""

import json

from compat import ticks_add, ticks_diff
from events import NAMES

MODE_NAMES = ("starting", "failsafe", "regulating")  # indexed by controller.MODE_*

# (state field, name in Home Assistant, device_class, state_class, unit)
_POWER = ("power", "measurement", "W")
_ENERGY = ("energy", "total_increasing", "Wh")
_SENSORS = (
    ("grid_power_w", "Grid power") + _POWER,
    ("grid_power_l1_w", "Grid power L1") + _POWER,
    ("grid_power_l2_w", "Grid power L2") + _POWER,
    ("grid_power_l3_w", "Grid power L3") + _POWER,
    ("pv_power_w", "PV power") + _POWER,
    ("load_power_w", "Load power") + _POWER,
    ("export_limit_w", "Export limit") + _POWER,
    ("inverter_limit_w", "Inverter limit") + _POWER,
    ("import_energy_wh", "Grid import energy") + _ENERGY,
    ("export_energy_wh", "Grid export energy") + _ENERGY,
    ("pv_energy_wh", "PV energy") + _ENERGY,
    ("mode", "Controller state", "enum", None, None),
)


def watts(power_dw):
    """Deci-watts as a JSON number of watts with one decimal, without floats: -123 -> "-12.3"."""
    sign = "-" if power_dw < 0 else ""
    power_dw = abs(power_dw)
    return "%s%d.%d" % (sign, power_dw // 10, power_dw % 10)


class Telemetry:
    def __init__(
        self,
        session,
        reading,
        fleet,
        controller=None,
        events=None,
        node_id="export_manager",
        prefix="export_manager",
        discovery_prefix="homeassistant",
        telemetry_period_s=10,
        device_name="Export manager",
        sw_version="0.1.0",
        pv_reading=None,
        energy=None,
    ):
        self.session = session
        self.reading = reading
        self.fleet = fleet
        self.controller = controller
        self.events = events
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
        self.pv_reading = pv_reading
        self.energy = energy
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

    def fields(self):
        """(field, JSON text) pairs of the state message, in a stable order."""
        reading = self.reading
        fleet = self.fleet
        valid = reading.valid
        out = [("mode", '"%s"' % MODE_NAMES[self.controller.mode] if self.controller is not None else "null")]
        out.append(("grid_power_w", watts(reading.power_dw) if valid else "null"))
        for phase in range(3):
            has = valid and reading.phases == 3
            out.append(("grid_power_l%d_w" % (phase + 1), watts(reading.phase_power_dw[phase]) if has else "null"))
        out.append(("pv_power_w", self._pv_power()))
        controller = self.controller
        load = watts(controller.load_dw) if controller is not None and valid else "null"
        out.append(("load_power_w", load))
        limit = "null" if controller is None or controller.export_limit_dw < 0 else watts(controller.export_limit_dw)
        out.append(("export_limit_w", limit))
        total = 0
        for index in range(fleet.count):
            total += fleet.target_dw[index]
        out.append(("inverter_limit_w", watts(total)))
        energy = self.energy
        if energy is not None:
            out.append(("import_energy_wh", "%d" % energy.import_wh))
            out.append(("export_energy_wh", "%d" % energy.export_wh))
            out.append(("pv_energy_wh", "%d" % energy.pv_wh))
        else:
            out.append(("import_energy_wh", "%d" % reading.import_wh if valid else "null"))
            out.append(("export_energy_wh", "%d" % reading.export_wh if valid else "null"))
            out.append(("pv_energy_wh", "null"))
        for index in range(fleet.count):
            reported = fleet.output_seq[index] > 0
            out.append(("inverter_%d_power_w" % (index + 1), watts(fleet.output_dw[index]) if reported else "null"))
            out.append(("inverter_%d_limit_w" % (index + 1), watts(fleet.target_dw[index])))
        if self.events is not None:
            out.append(("events_lost", "%d" % self.events.lost))
        return out

    def state_json(self):
        return "{" + ", ".join('"%s": %s' % pair for pair in self.fields()) + "}"

    def _pv_power(self):
        pv = self.pv_reading
        if pv is not None:
            return watts(abs(pv.power_dw)) if pv.valid else "null"
        fleet = self.fleet
        total = 0
        reported = False
        for index in range(fleet.count):
            if fleet.output_seq[index]:
                total += fleet.output_dw[index]
                reported = True
        return watts(total) if reported else "null"

    def discovery(self):
        """(topic, JSON payload) of every Home Assistant discovery message."""
        sensors = list(_SENSORS)
        for index in range(self.fleet.count):
            number = index + 1
            sensors.append(("inverter_%d_power_w" % number, "Inverter %d power" % number) + _POWER)
            sensors.append(("inverter_%d_limit_w" % number, "Inverter %d limit" % number) + _POWER)
        out = []
        for field, name, device_class, state_class, unit in sensors:
            object_id = field
            config = {
                "name": name,
                "unique_id": self.node_id + "_" + object_id,
                "default_entity_id": "sensor." + self.node_id + "_" + object_id,
                "state_topic": self.state_topic,
                "value_template": "{{ value_json.%s }}" % field,
                "availability_topic": self.status_topic,
                "payload_available": "online",
                "payload_not_available": "offline",
                "expire_after": self.expire_after_s,
                "device_class": device_class,
                "device": self.device,
            }
            if state_class is not None:
                config["state_class"] = state_class
                config["unit_of_measurement"] = unit
            else:
                config["options"] = list(MODE_NAMES)
            topic = "%s/sensor/%s/%s/config" % (self.discovery_prefix, self.node_id, object_id)
            out.append((topic, json.dumps(config)))
        return out

    # -- when ------------------------------------------------------------------------------------

    def announce(self):
        """On every connect: online, the discovery configs, and a state message at the next poll."""
        client = self.session.client
        client.publish(self.status_topic, "online", True)
        for topic, payload in self.discovery():
            client.publish(topic, payload, True)
        self._due_ms = None

    def poll(self, now_ms):
        """After session.poll(): send new events, and the state when a period has passed."""
        if not self.session.connected:
            return
        if self.events is not None:
            while self.events.pop():
                ring = self.events
                self.publish_event(ring.last_kind, ring.last_t_ms, ring.last_a, ring.last_b)
        if self._due_ms is None or ticks_diff(now_ms, self._due_ms) >= 0:
            if self.session.publish(self.state_topic, self.state_json()):
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
