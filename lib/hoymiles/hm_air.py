"""The radio interface: what HoymilesLink asks of a radio, and the send states radios answer with.

`HoymilesLink` drives any radio that offers

    listen(address)                     receive (the nRF24 takes its own 5-byte address; the CMT ignores it)
    send_start(address, buf, length)    start one transmission (the CMT ignores the address)
    send_done()                         SEND_PENDING, then SEND_OK or SEND_FAILED; listens again after
    recv_into(buf, now_ms)              length of a received frame copied into buf, or 0

and the CMT2300A also `set_channel(channel)`. The send states are defined here
once; firmware/nrf24.py and firmware/cmt2300a.py return them. The sub-GHz
bands and the airtime account of the CMT2300A are in hm_band, which only a
board with a CMT2300A loads (a module imported into RAM costs its code there).
"""

from compat import const

SEND_FAILED = const(-1)
SEND_PENDING = const(0)
SEND_OK = const(1)

_POLL_MIN_MS = const(2000)
_POLL_MS_PER_INVERTER = const(1000)


def nrf_poll_period_ms(inverters):
    """How often an nRF24 link asks each inverter for its output: every second per inverter on the one
    radio, at least 2 s apart. The controller learns each inverter's dead time and ramp from these
    reports, so they are worth the air; the simulator gives our controller the same period."""
    return max(_POLL_MIN_MS, _POLL_MS_PER_INVERTER * inverters)
