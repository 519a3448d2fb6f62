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
