"""What the plant is doing right now, as one JSON-ready dict for telemetry.

`PlantStatus.snapshot(now_ms)` reads the shared objects (the grid `Reading`,
the `Fleet`, the controller's attributes, the meter driver's counters and the
energy counters) and returns plain ints, strings, lists and dicts, in watts
and watt-hours as the user sees them. It only reads: telemetry never reaches
back into the control path (docs/ARCHITECTURE.md).

Everything but the reading and the fleet is optional and duck-typed, so the
HTTP server's tests can serve a fixed state without the controller or meter
modules, and a firmware without a PV meter simply leaves that part out:

- controller: `mode` (MODE_* of lib/control/controller.py), `export_limit_dw`
  (-1 = no limit), `pv_dw`, `load_dw`, `limit_dw`, `commands`;
- meter: the driver's counters `ok`, `timeout`, `crc`, `exception`, `invalid`;
- energy: `import_wh`, `export_wh` and, where PV production is counted,
  `pv_wh` (defaults: the reading's own import/export counters);
- pv_reading: a second meter's `Reading` at the PV output; without it PV
  power is the sum of the inverters' reported outputs;
- supervisor (lib/control/supervisor.py): its counters, lockout and
  commissioning time, and `over_limit_dw(reading)` for the export alarm;
  without one (a load-side meter) "supervisor" is null and "alarm" false;
- guard (lib/control/guard.py): `failsafe_reason`, an index into
  guard.FAILSAFE_REASONS (an attribute, or a method returning it);
- radio: the Hoymiles radio service (firmware/hm_radio.py), whose `link` and
  `second` (either may be None) are the Hoymiles links (lib/hoymiles/hm_link.py);
  their `slot_of_row` and `poll_failures` give each inverter's polls missed in a
  row. They are read at every snapshot: a new inverter list swaps the links.

The supervisor and guard attributes are read with getattr defaults, so a
firmware without commissioning (no `commission_left_s`) still reports.

Timing and allocation: off the control path (once per HTTP request or
telemetry period); it allocates the dict it returns, about 1.5 KB for a few
inverters, and takes well under a millisecond on the ESP32. During a lockout
it imports lib/status/eventlog.py for the trip reason's name and drops it
again (the firmware keeps that module out of RAM between events).
"""

from compat import const, ticks_diff
from fleet import CMD_ACKED
from guard import FAILSAFE_REASONS
from status_names import CMD_NAMES, MODE_NAMES, SUPERVISOR_STATES, eventlog_name

_MODE_FAILSAFE = const(1)
_NO_SLOT = const(0xFF)  # hm_link.slot_of_row of a row the link does not carry
METER_COUNTERS = ("ok", "timeout", "crc", "exception", "invalid")
ENERGY_COUNTERS = ("import_wh", "export_wh", "pv_wh")


def watts(power_dw):
    """Deci-watts to whole watts, rounded half away from zero."""
    if power_dw < 0:
        return -((5 - power_dw) // 10)
    return (power_dw + 5) // 10


def _name(names, index):
    return names[index] if 0 <= index < len(names) else "unknown"


class PlantStatus:
    def __init__(self, reading, fleet, controller=None, meter=None, energy=None, pv_reading=None,
                 supervisor=None, guard=None, radio=None):
        self.reading = reading
        self.fleet = fleet
        self.controller = controller
        self.meter = meter
        self.energy = energy if energy is not None else reading
        self.pv_reading = pv_reading
        self.supervisor = supervisor
        self.guard = guard
        self.radio = radio

    def snapshot(self, now_ms):
        reading = self.reading
        grid = {
            "valid": bool(reading.valid),
            "seq": reading.seq,
            "age_ms": ticks_diff(now_ms, reading.t_ms) if reading.seq else None,
            "power_w": watts(reading.power_dw),
            "phase_power_w": [watts(reading.phase_power_dw[phase]) for phase in range(reading.phases)],
            "voltage_dv": [reading.voltage_dv[phase] for phase in range(reading.phases)],
            "current_ma": [reading.current_ma[phase] for phase in range(reading.phases)],
            "frequency_chz": reading.frequency_chz,
        }
        inverters = self._inverters(now_ms)
        status = {
            "t_ms": now_ms,
            "grid": grid,
            "pv_power_w": self._pv_w(inverters),
            "inverters": inverters,
        }
        status.update(self._controller())
        status["reason"] = self._reason(status["mode"])
        status["supervisor"] = self._supervisor()
        supervisor = self.supervisor
        status["alarm"] = bool(reading.valid and supervisor is not None and supervisor.over_limit_dw(reading) > 0)
        meter = self.meter
        if meter is not None:
            status["meter"] = {name: getattr(meter, name, 0) for name in METER_COUNTERS}
        energy = {}
        for name in ENERGY_COUNTERS:
            value = getattr(self.energy, name, None)
            if value is not None:
                energy[name] = value
        status["energy"] = energy
        return status

    def _controller(self):
        controller = self.controller
        if controller is None:
            return {"mode": "none", "export_limit_w": None}
        limit_dw = controller.export_limit_dw
        return {
            "mode": _name(MODE_NAMES, controller.mode),
            "export_limit_w": None if limit_dw < 0 else watts(limit_dw),
            "load_power_w": watts(controller.load_dw),
            "limit_total_w": watts(controller.limit_dw),
            "commands": controller.commands,
        }

    def _reason(self, mode):
        """Why the plant is in fail-safe (a FAILSAFE_REASONS name), else None."""
        guard = self.guard
        if guard is None or mode != MODE_NAMES[_MODE_FAILSAFE]:
            return None
        reason = getattr(guard, "failsafe_reason", 0)
        if callable(reason):
            reason = reason()
        return FAILSAFE_REASONS[reason] if 0 < reason < len(FAILSAFE_REASONS) else None

    def _supervisor(self):
        supervisor = self.supervisor
        if supervisor is None:
            return None
        lockout_s = getattr(supervisor, "lockout_left_s", 0)
        commission_s = getattr(supervisor, "commission_left_s", 0)
        if lockout_s > 0:
            state = 2
        elif commission_s > 0:
            state = 3
        else:
            state = 1 if getattr(supervisor, "in_excursion", False) else 0
        return {
            "state": SUPERVISOR_STATES[state],
            "excursions": getattr(supervisor, "excursions", 0),
            "stage2": getattr(supervisor, "stage2_total", 0),
            "trips": getattr(supervisor, "trips", 0),
            "lockout_s_left": lockout_s,
            "lockout_reason": (eventlog_name("TRIP_NAMES", getattr(supervisor, "trip_reason", 0))
                               if lockout_s > 0 else None),
            "commission_s_left": commission_s,
            "clear": "app.reset_supervisor()" if lockout_s > 0 else None,
        }

    def _inverters(self, now_ms):
        fleet = self.fleet
        rows = []
        for index in range(fleet.count):
            reported = fleet.output_seq[index] > 0
            rows.append(
                {
                    "index": index,
                    "phase": fleet.phase[index] + 1,
                    "rated_w": watts(fleet.rated_dw[index]),
                    "limit_w": watts(fleet.target_dw[index]),
                    "command": _name(CMD_NAMES, fleet.cmd_state[index]),
                    "output_w": watts(fleet.output_dw[index]) if reported else None,
                    "output_age_ms": ticks_diff(now_ms, fleet.output_t_ms[index]) if reported else None,
                    "last_contact_s": _last_contact_s(fleet, index, now_ms),
                    "answers": fleet.output_seq[index],
                    "missed": self._missed(index),
                }
            )
        return rows

    def _missed(self, row):
        """Polls in a row the inverter left unanswered (its Hoymiles link's count); None on other links."""
        radio = self.radio
        for link in () if radio is None else (radio.link, radio.second):
            if link is None:
                continue
            slot = link.slot_of_row[row]
            if slot != _NO_SLOT:
                return link.poll_failures[slot]
        return None

    def _pv_w(self, inverters):
        pv = self.pv_reading
        if pv is not None:
            return abs(watts(pv.power_dw)) if pv.valid else None
        total = 0
        for row in inverters:
            if row["output_w"] is not None:
                total += row["output_w"]
        return total


def _last_contact_s(fleet, index, now_ms):
    """Seconds since the inverter was last heard: its newest output report or command acknowledgement."""
    age_ms = ticks_diff(now_ms, fleet.output_t_ms[index]) if fleet.output_seq[index] else None
    if fleet.cmd_state[index] == CMD_ACKED:
        acked_ms = ticks_diff(now_ms, fleet.cmd_t_ms[index])
        if age_ms is None or acked_ms < age_ms:
            age_ms = acked_ms
    return None if age_ms is None else age_ms // 1000
