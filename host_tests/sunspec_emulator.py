"""A SunSpec inverter emulated by pymodbus behind a pseudo-terminal (CPython, tests).

    from meter_emulator import MeterBus
    from sunspec_emulator import EmulatedInverter

    inverter = EmulatedInverter(address=3, base=40000, controls=123)
    with MeterBus(inverter) as bus:     # the generic pymodbus RTU server of meter_emulator
        ...our master on bus.port...

The map is a real SunSpec register map: "SunS" at `base`, common model 1
(L=66), an inverter model (103, L=50, integer + scale factors; or 113,
L=60, float32), nameplate 120 (L=26), basic settings 121 (L=30, optional),
then immediate controls 123 (L=24) or DER AC controls 704 (L=65 or the
draft's L=69), and the end marker 0xFFFF, 0. Offsets follow the
sunspec/models JSON definitions, written out here independently of
lib/sunspec/sunspec.py.

Behaviour:
- AC power: min(available_w, the limit in force) in W x 10**w_sf (int16),
  recomputed at every read; `available_w` is what the sun offers.
- Limit: WMaxLimPct x 10**pct_sf % of WMax (121; 120 WRtg without 121) while
  enabled. The revert timer counts from the last write of the control block:
  when it runs out, a 123 clears WMaxLim_Ena (full power again), a 704 with
  WMaxLimPctRvrtEna applies WMaxLimPctRvrt. `reverts` counts that.
- Late answers: `late_fraction` of the answers come a delay drawn from `late_s`
  (seconds, by the seeded `rng`) late, with the values of the moment the
  request came (writes take effect at once; their acknowledgement is late).
- Only the control registers are writable (exception 02 elsewhere, as read-only
  registers answer on real inverters). `writes` lists (time, register, values).
"""

import asyncio
import random
import struct
import threading
import time

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

COMMON_L = 66
INVERTER_L = {103: 50, 113: 60}
NAMEPLATE_L = 26
SETTINGS_L = 30
CONTROLS_L = 24
DER_SF = {65: 54, 69: 58}


def _u16(value):
    return value & 0xFFFF


def _text(text, registers):
    data = text.encode().ljust(2 * registers, b"\0")
    return list(struct.unpack(">%dH" % registers, data))


class EmulatedInverter:
    def __init__(
        self,
        address=3,
        base=40000,
        controls=123,
        der_length=65,
        inverter_model=103,
        rated_w=5000,
        wmax_w=None,
        rating_sf=0,
        w_sf=-1,
        pct_sf=-1,
        settings=True,
    ):
        self.address = address
        self.base = base
        self.controls = controls
        self.inverter_model = inverter_model
        self.rated_w = rated_w
        self.wmax_w = rated_w if wmax_w is None else wmax_w
        self.rating_sf = rating_sf
        self.w_sf = w_sf
        self.pct_sf = pct_sf
        self.available_w = rated_w
        self.writes = []
        self.reverts = 0
        self.reads = 0
        self.exception_code = None
        self.late_fraction = 0.0
        self.late_s = (0.3, 1.6)
        self.late_answers = 0
        self.rng = random.Random(1)
        self._lock = threading.Lock()
        self._written_at = None
        self.regs = {}
        cursor = base
        cursor = self._put(cursor, [0x5375, 0x6E53])
        common = _text("Emulated", 16) + _text("SunSpec inverter", 16) + _text("", 8) + _text("1.0", 8)
        common += _text("SN-%d" % address, 16) + [address, 0x8000]
        cursor = self._model(cursor, 1, common)
        self.inverter_reg = cursor
        cursor = self._model(cursor, inverter_model, [0] * INVERTER_L[inverter_model])
        self.nameplate_reg = cursor
        nameplate = [0x8000 if index % 2 else 0xFFFF for index in range(NAMEPLATE_L)]
        nameplate[0] = 4  # DERTyp: PV
        nameplate[1], nameplate[2] = self._scaled(rated_w), _u16(rating_sf)  # WRtg, WRtg_SF
        cursor = self._model(cursor, 120, nameplate)
        self.settings_reg = None
        if settings:
            self.settings_reg = cursor
            values = [0xFFFF] * 20 + [0x8000] * 10
            values[0], values[20] = self._scaled(self.wmax_w), _u16(rating_sf)  # WMax (+2), WMax_SF (+22)
            cursor = self._model(cursor, 121, values)
        self.controls_reg = cursor
        if controls == 123:
            values = [0] * CONTROLS_L
            values[23 - 2] = _u16(pct_sf)  # WMaxLimPct_SF
            values[5 - 2] = 10 ** (2 - pct_sf)  # WMaxLimPct: 100 %
            self.writable = (cursor + 2, cursor + 22)  # Conn_WinTms .. VArPct_Ena
        else:
            values = [0] * der_length
            values[DER_SF[der_length] - 2] = _u16(pct_sf)  # WMaxLim(Pct)_SF
            values[15 - 2] = 10 ** (2 - pct_sf)
            self.writable = (cursor + 14, cursor + 20)  # WMaxLimPctEna .. WMaxLimPctRvrtTms
        cursor = self._model(cursor, controls, values)
        self.end = self._put(cursor, [0xFFFF, 0])

    def _put(self, cursor, values):
        for value in values:
            self.regs[cursor] = value
            cursor += 1
        return cursor

    def _model(self, cursor, model, values):
        return self._put(cursor, [model, len(values)] + values)

    def _scaled(self, watts):
        return round(watts / 10**self.rating_sf)

    # --- what the inverter does ---------------------------------------------------------

    def _control(self, offset):
        return self.regs[self.controls_reg + offset]

    def _revert_if_due(self):
        if self._written_at is None:
            return
        if self.controls == 123:
            enabled, timeout = self._control(9), self._control(7)
        else:
            enabled, timeout = self._control(14), (self._control(18) << 16) | self._control(19)
        if not enabled or not timeout or time.monotonic() - self._written_at < timeout:
            return
        self._written_at = None
        self.reverts += 1
        if self.controls == 123:
            self.regs[self.controls_reg + 9] = 0
        elif self._control(17):
            self.regs[self.controls_reg + 15] = self._control(16)

    def limit_pct(self):
        """The limit in force in percent of WMax, or None when no limit is enabled."""
        with self._lock:
            self._revert_if_due()
            enabled = self._control(9) if self.controls == 123 else self._control(14)
            value = self._control(5) if self.controls == 123 else self._control(15)
        return value * 10.0**self.pct_sf if enabled else None

    def output_w(self):
        pct = self.limit_pct()
        limit = self.wmax_w if pct is None else self.wmax_w * pct / 100
        return max(0.0, min(self.available_w, limit, self.rated_w))

    def _update_power(self):
        output = self.output_w()
        if self.inverter_model == 103:
            self.regs[self.inverter_reg + 14] = _u16(round(output / 10**self.w_sf))
            self.regs[self.inverter_reg + 15] = _u16(self.w_sf)
        else:
            high, low = struct.unpack(">HH", struct.pack(">f", output))
            self.regs[self.inverter_reg + 22], self.regs[self.inverter_reg + 23] = high, low

    # --- pymodbus glue ------------------------------------------------------------------

    def device(self):
        simdata = SimData(self.base, count=self.end - self.base, values=0, datatype=DataType.REGISTERS)
        return SimDevice(self.address, simdata=[simdata], action=self._action)

    async def _action(self, function_code, start_address, address, count, registers, set_values):
        if self.exception_code:
            return ExcCodes(self.exception_code)
        if set_values is not None:
            low, high = self.writable
            if address < low or address + count - 1 > high:
                return ExcCodes.ILLEGAL_ADDRESS
            with self._lock:
                self._revert_if_due()
                for offset, value in enumerate(set_values):
                    self.regs[address + offset] = value
                self.writes.append((time.monotonic(), address, list(set_values)))
                self._written_at = time.monotonic()
            await self._maybe_late()
            return None
        self._update_power()
        with self._lock:
            values = [self.regs.get(address + offset, 0) for offset in range(count)]
            self.reads += 1
        await self._maybe_late()
        for offset, value in enumerate(values):
            registers[address - start_address + offset] = value
        return None

    async def _maybe_late(self):
        if self.late_fraction and self.rng.random() < self.late_fraction:
            self.late_answers += 1
            await asyncio.sleep(self.rng.uniform(*self.late_s))
