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
  power is the sum of the inverters' reported outputs.

Timing and allocation: off the control path (once per HTTP request or
telemetry period); it allocates the dict it returns, about 1 KB for a few
inverters, and takes well under a millisecond on the ESP32.
"""

from compat import ticks_diff

MODE_NAMES = ("starting", "failsafe", "regulating")
CMD_NAMES = ("idle", "queued", "sent", "acked", "failed")
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
    def __init__(self, reading, fleet, controller=None, meter=None, energy=None, pv_reading=None):
        self.reading = reading
        self.fleet = fleet
        self.controller = controller
        self.meter = meter
        self.energy = energy if energy is not None else reading
        self.pv_reading = pv_reading

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
                }
            )
        return rows

    def _pv_w(self, inverters):
        pv = self.pv_reading
        if pv is not None:
            return abs(watts(pv.power_dw)) if pv.valid else None
        total = 0
        for row in inverters:
            if row["output_w"] is not None:
                total += row["output_w"]
        return total
