"""One meter sample, shared by a meter driver (writer) and the controller (reader).

A `Reading` is allocated once at start-up and updated in place, so the poll
path and the control step never allocate. Sign convention everywhere:
power is positive when imported from the grid and negative when exported.
Units are in the names: deci-watts (`_dw`), deci-volts (`_dv`), milliamps
(`_ma`), centi-hertz (`_chz`), watt-hours (`_wh`), ticks in ms (`_ms`).
"""


from compat import build


class Reading:
    def __init__(self, *args, **options):
        build("meter_init", "reading", self, args, options)  # boot only: meter_init.py
