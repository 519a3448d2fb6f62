"""What differs per Hoymiles model: its radio and inputs by family, byte tables, rated power.

The first 4 hex digits of the serial number give the family (how many DC
inputs, which radio): hm_family.py, needed only while the links are built.
The serial does not give the rated power (HM-600/700/800 share a prefix): it
comes from the hardware part number in the DevInfoSimple answer.

RealTimeRunData layouts are tables of byte offsets (every field is 2 bytes,
the total yields 4, all big-endian; reactive power and temperature are
signed), for HM-1T/2T/4T, HMS-1T/1T v2/2T/4T and HMT-4T/6T; the three-phase
HMT add the voltages and currents of L2 and L3 (`phase_layout`). Values stay
in the protocol's fixed-point units, which are ours: U in dV, I in cA, P in
dW, yield total and day in Wh, frequency in cHz, power factor in thousandths,
temperature in tenths of a degree.

Timing and allocation: lookups index preallocated bytes objects; nothing here
allocates after import.
"""

import sys

from compat import const

RADIO_NONE = const(0)
RADIO_NRF24 = const(1)
RADIO_CMT2300A = const(2)

FAMILY_UNKNOWN = const(0)
FAMILY_HM_1T = const(1)
FAMILY_HM_2T = const(2)
FAMILY_HM_4T = const(3)
FAMILY_HMS_1T = const(4)
FAMILY_HMS_2T = const(5)
FAMILY_HMS_4T = const(6)
FAMILY_HMT_4T = const(7)
FAMILY_HMT_6T = const(8)
FAMILY_HMS_1T_V2 = const(9)

# Per-input fields, in this order per input, then the AC fields.
IN_VOLTAGE = const(0)
IN_CURRENT = const(1)
IN_POWER = const(2)
IN_YIELD_TOTAL = const(3)
IN_YIELD_DAY = const(4)
IN_FIELDS = const(5)
AC_VOLTAGE = const(0)
AC_FREQUENCY = const(1)
AC_POWER = const(2)
AC_REACTIVE = const(3)
AC_CURRENT = const(4)
AC_POWER_FACTOR = const(5)
AC_TEMPERATURE = const(6)
AC_EVENTS = const(7)
AC_FIELDS = const(8)


def _tables():
    """The byte tables, from hm_layouts.py's tuples; that module is dropped again, with its tuples.

    (A module imported from a .mpy file keeps its constants for as long as it is loaded: tuples written in
    this module would stay on the heap beside the bytes made from them. Built in a function: its locals are
    not names the module keeps, which would cost an interned string each for as long as the gateway runs.)
    """
    import hm_layouts

    try:
        layouts = tuple(None if layout is None else bytes(layout) for layout in hm_layouts.LAYOUTS)
        return (bytes(hm_layouts.FAMILY_RADIO), bytes(hm_layouts.PHASES_HMT), layouts)
    finally:
        sys.modules.pop("hm_layouts", None)


_FAMILY_RADIO, _PHASES_HMT, _LAYOUTS = _tables()
del _tables
# Hardware part number (DevInfoSimple payload bytes 2..5) -> rated W. A 0xFF in
# the last byte matches any value; exact rows come first. Rows of 5 bytes: the
# part number, then the rated power in units of 10 W (hex; the comment gives W).
# One bytes constant rather than a tuple of (bytes, int) rows: 120 bytes of RAM
# instead of about 1 kB of objects, as the .mpy is imported into RAM.
_PART_ROW = const(5)
_PART_TABLE = (
    b"\x10\x10\x10\x15\x15"  # 210 W; HM-300 factory-limited to 70 %
    b"\x10\x10\x10\xff\x1e"  # 300 W
    b"\x10\x10\x20\xff\x23"  # 350 W
    b"\x10\x10\x30\xff\x28"  # 400 W
    b"\x10\x10\x40\xff\x28"  # 400 W
    b"\x10\x11\x10\xff\x3c"  # 600 W
    b"\x10\x11\x20\xff\x46"  # 700 W
    b"\x10\x11\x30\xff\x50"  # 800 W
    b"\x10\x11\x40\xff\x50"  # 800 W
    b"\x10\x12\x10\xff\x78"  # 1200 W
    b"\x10\x12\x30\xff\x96"  # 1500 W
    b"\x10\x12\x51\xff\xb4"  # 1800 W; HMS-1800
    b"\x10\x12\x71\xff\xc8"  # 2000 W; HMS-2000
    b"\x10\x02\x30\xff\x96"  # 1500 W; MI-1500 gen3
    b"\x10\x20\x21\xff\x23"  # 350 W
    b"\x10\x20\x41\xff\x28"  # 400 W
    b"\x10\x21\x11\xff\x3c"  # 600 W
    b"\x10\x21\x41\xff\x50"  # 800 W
    b"\x10\x21\x71\xff\x64"  # 1000 W
    b"\x10\x22\x41\xff\xa0"  # 1600 W
    b"\x10\x22\x51\xff\xb4"  # 1800 W
    b"\x10\x22\x71\xff\xc8"  # 2000 W
    b"\x10\x33\x11\xff\xb4"  # 1800 W
    b"\x10\x33\x31\xff\xe1"  # 2250 W
)


def radio_of(family):
    return _FAMILY_RADIO[family]


def is_hms(family):
    """True where the HMS limit type codes apply (HMT keeps the HM codes)."""
    return FAMILY_HMS_1T <= family <= FAMILY_HMS_4T or family == FAMILY_HMS_1T_V2


def layout(family):
    """The RealTimeRunData offset table of a family, or None for FAMILY_UNKNOWN."""
    return _LAYOUTS[family]


def phase_layout(family):
    """Offsets of U L2-N, U L3-N, I L2, I L3 for a three-phase family, else None."""
    return _PHASES_HMT if family == FAMILY_HMT_4T or family == FAMILY_HMT_6T else None


def rated_w_of_part(buf, start):
    """Rated power in W for the 4-byte hardware part number at buf[start:start+4], 0 if unknown."""
    table = _PART_TABLE
    for row in range(0, len(table), _PART_ROW):
        if table[row] == buf[start] and table[row + 1] == buf[start + 1] and table[row + 2] == buf[start + 2]:
            if table[row + 3] == 0xFF or table[row + 3] == buf[start + 3]:
                return table[row + 4] * 10
    return 0
