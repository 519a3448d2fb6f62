"""The Eastron SDM630 (three phase) register table, read by the common driver, meters.Meter.

Loaded by meters.create() only for the configured model: the other models' tables are
never built. The format of a table is described in meters.py.
"""

import meters
import modbus
from meters import R_CT, R_CTVT, R_NONE, R_VT, T_EXPORT, T_FREQ, T_I1, T_IMPORT, T_P1, T_U1, fields

SDM630 = (
    modbus.FC_READ_INPUT,
    3,
    True,  # one read of the three phase powers; the total is their sum
    2,
    (
        (0x000C, 6, fields((0, T_P1, 10, 1, R_CTVT), (2, T_P1 + 1, 10, 1, R_CTVT), (4, T_P1 + 2, 10, 1, R_CTVT))),
        (
            0x0000,
            12,
            fields(
                (0, T_U1, 10, 1, R_VT),
                (2, T_U1 + 1, 10, 1, R_VT),
                (4, T_U1 + 2, 10, 1, R_VT),
                (6, T_I1, 1000, 1, R_CT),
                (8, T_I1 + 1, 1000, 1, R_CT),
                (10, T_I1 + 2, 1000, 1, R_CT),
            ),
        ),
        (0x0046, 2, fields((0, T_FREQ, 100, 1, R_NONE))),
        (0x0048, 4, fields((0, T_IMPORT, 1000, 1, R_CTVT), (2, T_EXPORT, 1000, 1, R_CTVT))),
    ),
)

DRIVER = meters.Meter
TABLE = SDM630
