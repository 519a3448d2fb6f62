"""The Eastron SDM120 (single phase) register table, read by the common driver, meters.Meter.

Loaded by meters.create() only for the configured model: the other models' tables are
never built. The format of a table is described in meters.py.
"""

import meters
import modbus
from meters import R_CT, R_CTVT, R_NONE, R_VT, T_EXPORT, T_FREQ, T_I1, T_IMPORT, T_POWER, T_U1, fields

# Eastron input registers, FC04, SI units (V, A, W, Hz, kWh).
SDM120 = (
    modbus.FC_READ_INPUT,
    1,
    False,
    2,
    (
        (0x000C, 2, fields((0, T_POWER, 10, 1, R_CTVT))),
        (0x0000, 8, fields((0, T_U1, 10, 1, R_VT), (6, T_I1, 1000, 1, R_CT))),
        (  # Hz, import and export kWh in one read (its count must differ from the power block's)
            0x0046,
            6,
            fields((0, T_FREQ, 100, 1, R_NONE), (2, T_IMPORT, 1000, 1, R_CTVT), (4, T_EXPORT, 1000, 1, R_CTVT)),
        ),
    ),
)

DRIVER = meters.Meter
TABLE = SDM120
