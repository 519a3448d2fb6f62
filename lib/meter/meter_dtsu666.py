"""The Chint DTSU666 (three phase, and its -H variant): register tables and the driver's start-up.

Loaded by meters.create() only for a DTSU666: the other models' tables are never built. The format of a
table is described in meters.py. Start-up (inside step(), before the first power read): read IrAt/UrAt
(0x0006, 0x0007) unless `ct_ratio`/`vt_ratio` are given; read Ua (with the U/I block) to tell the native
map (0.1 V units, ~2300) from the -H variant (engineering units, ~230; already primary, no ratios applied);
probe the energy family (0x101E, else 0x401E); then the frequency check every model has. A successful
start-up rebuilds the tables (the one allocation of the driver after construction).
"""

import modbus
from compat import const
from f32 import INVALID, decode
from meters import (
    MAX_RATIO,
    R_CT,
    R_CTVT,
    R_NONE,
    R_VT,
    STARTUP_CHECK,
    STARTUP_COUNT,
    T_EXPORT,
    T_FREQ,
    T_I1,
    T_IMPORT,
    T_P1,
    T_POWER,
    T_U1,
    WRONG_METER,
    Meter,
    fields,
)

# Chint parameter and measurement registers (DT19/DT20/DD19 names)
_CHINT_IRAT = const(0x0006)
_CHINT_UA = const(0x2006)
_CHINT_ENERGY_1000 = const(0x101E)
_CHINT_ENERGY_4000 = const(0x401E)
_ENERGY_FAMILY_SHIFT = const(0x3000)  # 0x401E - 0x101E
# Ua above this many raw units (0.1 V) means the native map.
_NATIVE_MIN_RAW = const(1000)

# Start-up requests before the common frequency check (meters.STARTUP_CHECK)
_K_RATIOS = const(0)
_K_VARIANT = const(1)
_K_PROBE_1000 = const(2)
_K_PROBE_4000 = const(3)

# The native map: secondary side, Chint raw units (0.1 V, 0.001 A, 0.1 W, 0.01 Hz).
DTSU666 = (
    modbus.FC_READ_HOLDING,
    3,
    False,
    2,
    (
        (
            0x2012,  # Pt, Pa, Pb, Pc in 0.1 W
            8,
            fields(
                (0, T_POWER, 1, 1, R_CTVT),
                (2, T_P1, 1, 1, R_CTVT),
                (4, T_P1 + 1, 1, 1, R_CTVT),
                (6, T_P1 + 2, 1, 1, R_CTVT),
            ),
        ),
        (
            _CHINT_UA,
            12,
            fields(
                (0, T_U1, 1, 1, R_VT),
                (2, T_U1 + 1, 1, 1, R_VT),
                (4, T_U1 + 2, 1, 1, R_VT),
                (6, T_I1, 1, 1, R_CT),
                (8, T_I1 + 1, 1, 1, R_CT),
                (10, T_I1 + 2, 1, 1, R_CT),
            ),
        ),
        (0x2044, 2, fields((0, T_FREQ, 1, 1, R_NONE))),
        (_CHINT_ENERGY_1000, 2, fields((0, T_IMPORT, 1000, 1, R_CTVT))),  # ImpEp kWh
        (0x1028, 2, fields((0, T_EXPORT, 1000, 1, R_CTVT))),  # ExpEp kWh
    ),
)
# The -H variant on the same addresses: engineering units (V, A, W, Hz), primary side.
DTSU666H = (
    modbus.FC_READ_HOLDING,
    3,
    False,
    2,
    (
        (
            0x2012,
            8,
            fields(
                (0, T_POWER, 10, 1, R_NONE),
                (2, T_P1, 10, 1, R_NONE),
                (4, T_P1 + 1, 10, 1, R_NONE),
                (6, T_P1 + 2, 10, 1, R_NONE),
            ),
        ),
        (
            _CHINT_UA,
            12,
            fields(
                (0, T_U1, 10, 1, R_NONE),
                (2, T_U1 + 1, 10, 1, R_NONE),
                (4, T_U1 + 2, 10, 1, R_NONE),
                (6, T_I1, 1000, 1, R_NONE),
                (8, T_I1 + 1, 1000, 1, R_NONE),
                (10, T_I1 + 2, 1000, 1, R_NONE),
            ),
        ),
        (0x2044, 2, fields((0, T_FREQ, 100, 1, R_NONE))),
        (_CHINT_ENERGY_1000, 2, fields((0, T_IMPORT, 1000, 1, R_NONE))),
        (0x1028, 2, fields((0, T_EXPORT, 1000, 1, R_NONE))),
    ),
)


class Chint(Meter):
    """DTSU666 with its start-up: ratios, variant, energy family, then the common check."""

    def __init__(self, master, address, reading, model, **options):
        self.variant = "native"
        self.energy_register = _CHINT_ENERGY_1000
        self._probe_1000 = False
        plan = (_K_RATIOS, _K_VARIANT, _K_PROBE_1000, _K_PROBE_4000, STARTUP_CHECK)
        super().__init__(master, address, reading, model, startup=plan, **options)

    def _startup_register(self, kind):
        if kind == _K_RATIOS:
            return _CHINT_IRAT
        if kind == _K_VARIANT:
            return _CHINT_UA
        if kind == _K_PROBE_1000:
            return _CHINT_ENERGY_1000
        if kind == _K_PROBE_4000:
            return _CHINT_ENERGY_4000
        return super()._startup_register(kind)

    def _startup_count(self, kind):
        # Ua comes with the rest of the U/I block: a length the ratio and energy reads do not have, so it
        # need not wait for them (modbus.py's same-length rule).
        if kind == _K_VARIANT:
            return self._block_count[1]
        if kind == STARTUP_CHECK:
            return super()._startup_count(kind)
        return STARTUP_COUNT

    def _startup_stage(self, kind, status):
        if kind == _K_RATIOS:
            return self._ratios(status)
        if kind == _K_VARIANT:
            return self._variant(status)
        if kind == _K_PROBE_1000 or kind == _K_PROBE_4000:
            self._probe(kind, status)
            return 0
        return super()._startup_stage(kind, status)

    def _ratios(self, status):
        if status != modbus.DONE:
            # without both overrides the ratios are needed
            return status if self.ct_override is None or self.vt10_override is None else 0
        ct_ratio = self.master.register(0)
        vt_ratio10 = self.master.register(1)
        if ct_ratio < 1 or ct_ratio > MAX_RATIO or vt_ratio10 < 1 or vt_ratio10 > MAX_RATIO:
            return WRONG_METER
        self.ct_ratio = self.ct_override or ct_ratio
        self.vt_ratio10 = self.vt10_override or vt_ratio10
        return 0

    def _variant(self, status):
        if status != modbus.DONE:
            return status
        raw = decode(self._rx, self.master.offset, 1, 1)
        if raw == INVALID:
            return WRONG_METER
        # ~2300 (0.1 V) is the native map; ~230 with a VT ratio of 1 is the -H variant in volts
        self.variant = "H" if 50 <= raw < _NATIVE_MIN_RAW and self.vt_ratio10 == 10 else "native"
        return 0

    def _probe(self, kind, status):
        """Energy family: 0x101E if it answers non-zero, else 0x401E if that does, else whichever answered."""
        found = status == modbus.DONE and decode(self._rx, self.master.offset, 1, 1) > 0
        if kind == _K_PROBE_1000:
            self._probe_1000 = status == modbus.DONE
            if not found:
                return  # try the other family
            self.energy_register = _CHINT_ENERGY_1000
            self._stage += 1  # skip the 0x401E probe
        elif found:
            self.energy_register = _CHINT_ENERGY_4000
        else:
            self.energy_register = _CHINT_ENERGY_1000 if self._probe_1000 else 0
        self._load_variant()

    def _load_variant(self):
        """Ratios, variant and energy family are known: rebuild the tables (before the frequency check)."""
        self.load_model(DTSU666H if self.variant == "H" else DTSU666)
        if self.energy_register == 0:
            self._blocks = 3  # no energy registers answer: leave them out
            self.slow_blocks = 2
        elif self.energy_register == _CHINT_ENERGY_4000:
            self._block_reg[3] += _ENERGY_FAMILY_SHIFT
            self._block_reg[4] += _ENERGY_FAMILY_SHIFT


DRIVER = Chint
TABLE = DTSU666
