"""What a grid meter holds in its registers, per model: the one register map the test peers share.

Portable (CPython and the MicroPython unix port). `MeterMap` keeps a meter's
state (primary-side values, CT/VT ratios, variant, energy family) and turns it
into `{register: 16-bit word}` the way the real meter stores it: float32 ABCD
in the documented registers (the DTSU666 native map in Chint raw units on the
secondary side, i.e. divided by the ratios it reports in IrAt/UrAt;
variant="H": engineering units, primary side). `ranges()` are the register
ranges the model answers at all (outside them: exception 02).

meter_emulator.py serves it over a pty with pymodbus; late_slave.py serves
it on a simulated clock for the late-answer tests and tools/fuzz.py.
"""

import struct

MODELS = ("ddsu666", "dtsu666", "sdm120", "sdm630")


def float_words(value):
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return high, low


class MeterMap:
    def __init__(self, model, address=1, ct_ratio=1, vt_ratio=1.0, variant="native", energy_family=0x1000):
        if model not in MODELS:
            raise ValueError("unknown model %r" % model)
        self.model = model
        self.address = address
        self.ct_ratio = ct_ratio
        self.vt_ratio = vt_ratio
        self.variant = variant
        self.energy_family = energy_family
        self.phases = 1 if model in ("ddsu666", "sdm120") else 3
        self.written = {}  # registers written by FC06/FC16, kept like the meter's settings
        self.power_w = 0.0
        self.phase_power_w = [0.0] * 3
        self.voltage_v = [230.0] * 3
        self.current_a = [0.0] * 3
        self.frequency_hz = 50.0
        self.import_kwh = 0.0
        self.export_kwh = 0.0

    def set(
        self,
        power_w=None,
        phase_power_w=None,
        voltage_v=None,
        current_a=None,
        frequency_hz=None,
        import_kwh=None,
        export_kwh=None,
    ):
        if phase_power_w is not None:
            self.phase_power_w = list(phase_power_w) + [0.0] * (3 - len(phase_power_w))
            self.power_w = sum(self.phase_power_w) if power_w is None else power_w
        elif power_w is not None:
            self.power_w = power_w
            share = power_w / self.phases
            self.phase_power_w = [share if index < self.phases else 0.0 for index in range(3)]
        if voltage_v is not None:
            self.voltage_v = list(voltage_v) + [0.0] * (3 - len(voltage_v))
        if current_a is not None:
            self.current_a = list(current_a) + [0.0] * (3 - len(current_a))
        if frequency_hz is not None:
            self.frequency_hz = frequency_hz
        if import_kwh is not None:
            self.import_kwh = import_kwh
        if export_kwh is not None:
            self.export_kwh = export_kwh

    # --- what the meter stores ---------------------------------------------------

    def ranges(self):
        """The valid register ranges (start, count) of this model's map."""
        if self.model == "ddsu666":
            return ((0x0000, 0x0010), (0x2000, 0x0012), (0x4000, 0x000C))
        if self.model == "dtsu666":
            family = self.energy_family
            return ((0x0000, 0x0030), (0x2000, 0x0052), (family + 0x1E, 0x0014))
        return ((0x0000, 0x0050), (0x0156, 0x0016))

    def registers(self):
        """{address: 16-bit value} for every register this meter fills from its state."""
        floats, words = self._values()
        out = dict(words)
        for address, value in floats.items():
            out[address], out[address + 1] = float_words(value)
        out.update(self.written)
        return out

    def _values(self):
        p, ph, u, i = self.power_w, self.phase_power_w, self.voltage_v, self.current_a
        f, imp, exp = self.frequency_hz, self.import_kwh, self.export_kwh
        if self.model == "ddsu666":
            floats = {
                0x2000: u[0] / self.vt_ratio,
                0x2002: i[0] / self.ct_ratio,
                0x2004: p / 1000 / self.ct_ratio / self.vt_ratio,
                0x200A: 1.0,
                0x200E: f,
                0x4000: imp,
                0x400A: exp,
            }
            return floats, {0x0006: 1, 0x000C: 3}
        if self.model == "dtsu666":
            energy = self.energy_family + 0x1E
            if self.variant == "H":
                floats = {0x2012: p, 0x2044: f, energy: imp, energy + 10: exp}
                scale_u = scale_i = scale_p = 1.0
                words = {0x0006: 1, 0x0007: 10}
            else:
                ratio = self.ct_ratio * self.vt_ratio
                scale_u, scale_i, scale_p = 10 / self.vt_ratio, 1000 / self.ct_ratio, 10 / ratio
                floats = {0x2012: p * scale_p, 0x2044: f * 100, energy: imp / ratio, energy + 10: exp / ratio}
                words = {0x0006: self.ct_ratio, 0x0007: round(self.vt_ratio * 10)}
            for phase in range(3):
                floats[0x2006 + 2 * phase] = u[phase] * scale_u
                floats[0x200C + 2 * phase] = i[phase] * scale_i
                floats[0x2014 + 2 * phase] = ph[phase] * scale_p
            words[0x0000] = 204
            words[0x002E] = self.address
            return floats, words
        floats = {0x0046: f, 0x0048: imp, 0x004A: exp}
        if self.model == "sdm120":
            floats.update({0x0000: u[0], 0x0006: i[0], 0x000C: p})
        else:
            floats[0x0034] = p
            for phase in range(3):
                floats[0x0000 + 2 * phase] = u[phase]
                floats[0x0006 + 2 * phase] = i[phase]
                floats[0x000C + 2 * phase] = ph[phase]
        return floats, {}
