"""The names of meters.step()'s results, for status() at the REPL and tools/meter_read.py.

Kept out of meters.py: a running gateway does not hold these strings; they are imported only to print.
"""

from meters import (
    BAD_FRAME,
    BUSY,
    EXCEPTION,
    IDLE,
    INVALID_VALUE,
    SAMPLE,
    STARTED,
    TIMEOUT,
    UPDATED,
    WAIT_BUS,
    WRONG_METER,
)

STATUS_NAMES = {
    IDLE: "idle",
    BUSY: "busy",
    WAIT_BUS: "waiting for the bus",
    SAMPLE: "new sample",
    UPDATED: "updated",
    STARTED: "started",
    TIMEOUT: "no response (timeout)",
    BAD_FRAME: "bad response (CRC error or garbled frame)",
    EXCEPTION: "exception response",
    INVALID_VALUE: "invalid value (NaN, Inf or out of range)",
    WRONG_METER: "implausible readings: wrong meter type, register map or word order?",
}
