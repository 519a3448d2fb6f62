"""The Chint DDSU666 (single phase) register table, read by the common driver, meters.Meter.

Loaded by meters.create() only for the configured model: the other models' tables are
never built. The format of a table is described in meters.py.
"""

import meters
import modbus
from meters import R_CT, R_CTVT, R_NONE, R_VT, T_EXPORT, T_FREQ, T_I1, T_IMPORT, T_POWER, T_U1, fields

DDSU666 = (
    modbus.FC_READ_HOLDING,
    1,
    False,
    2,
    (
        (0x2000, 6, fields((4, T_POWER, 10000, 1, R_CTVT))),  # U, I, P: P in kW (a count no other read has)
        (0x2000, 4, fields((0, T_U1, 10, 1, R_VT), (2, T_I1, 1000, 1, R_CT))),  # U V, I A
        (0x200E, 2, fields((0, T_FREQ, 100, 1, R_NONE))),  # Freq Hz
        (0x4000, 2, fields((0, T_IMPORT, 1000, 1, R_CTVT))),  # Ep kWh
        (0x400A, 2, fields((0, T_EXPORT, 1000, 1, R_CTVT))),  # reverse Ep kWh [?]
    ),
)

DRIVER = meters.Meter
TABLE = DDSU666
