"""The Hoymiles radios of a board, and the fast timer that steps their links apart from the control loop.

`build_service` reads the board file and the configuration: HM inverters go
to a link on the nRF24L01+ (board key "radio"), HMS and HMT inverters to a
link on the CMT2300A (board key "cmt", region and frequency from
`cmt_region` and `cmt_frequency_mhz`); which one follows from each serial
(hm_models). Both radios can be fitted and work at the same time.

The control loop ticks every 100-2000 ms, but while a request is open a
radio needs looking at every few milliseconds: an nRF24 answer's fragments
are on one of five channels and the receiver moves on every 4 ms, and the
CMT2300A's 64-byte FIFO holds only two fragments. `RadioService` therefore
runs `link.step(now_ms)` of each link from its own `ticker.Ticker` every
`period_ms` (default 4 ms). It and the control loop run as scheduled
callbacks in the one MicroPython task, never at the same time, so the Fleet
they share needs no lock.

Cost: one scheduled call per period. An idle link step is a few checks; an
open one adds a few SPI transactions (tens of us each on the nRF24's
hardware SPI at 8 MHz; the CMT2300A's bit-banged frame transfers take a few
ms). Nothing allocates per tick. Its status line is built by report.py,
loaded only while app.status() prints.
"""

from compat import const, ticks_ms
from ticker import Ticker

PERIOD_MS = const(4)
TIMER_ID = const(2)  # the control loop uses 1; 0 is taken by UART RXIDLE interrupts


class RadioService(Ticker):
    def __init__(self, link, period_ms=PERIOD_MS, timer_id=TIMER_ID, clock=ticks_ms, second=None):
        super().__init__(period_ms, timer_id)
        self.link = link
        self.second = second  # the other radio's link, when a board carries both
        self._clock = clock

    def run(self):
        now_ms = self._clock()
        if self.link is not None:
            self.link.step(now_ms)
        if self.second is not None:
            self.second.step(now_ms)


def build_service(board, fleet, settings, clock, dtu_serial, clock_s2000, service=None):
    """The links for the configured Hoymiles inverters on the board's radios, on one timer; None if none.

    service: the running one (a new inverter list, firmware/relist.py): the new links use its radios
    (and the CMT link its airtime account) instead of setting the chips up again; the caller swaps them in."""
    import hm_frames
    import hm_models

    nrf_rows = []
    cmt_rows = []
    for row, inverter in enumerate(settings["inverters"]):
        if "sunspec_address" in inverter:
            continue
        serial = hm_frames.serial_bytes(inverter["serial"])
        radio = hm_models.radio_of(hm_models.family_of_prefix(hm_frames.prefix(serial)))
        if radio == hm_models.RADIO_NONE:
            raise ValueError("inverters[%d]: serial %s is no HM, HMS or HMT inverter" % (row, inverter["serial"]))
        (nrf_rows if radio == hm_models.RADIO_NRF24 else cmt_rows).append((row, serial))
    dtu = hm_frames.serial_bytes(dtu_serial)
    nrf = _nrf_link(board.get("radio"), fleet, settings, dtu, clock_s2000, nrf_rows, service and service.link)
    cmt = cmt_link(board.get("cmt"), fleet, settings, dtu, clock_s2000, cmt_rows, service and service.second)
    if nrf is None and cmt is None:
        return None
    return RadioService(nrf, clock=clock, second=cmt)


def _nrf_link(pins, fleet, settings, dtu, clock_s2000, rows, link=None):
    """The HM link on the nRF24L01+; with `link` (the running one) on its radio, not set up again."""
    if not pins or not rows:
        return None
    import hm_air
    import hm_link

    if link is not None:
        radio = link.radio
    else:
        import machine
        import nrf24

        pin = machine.Pin
        spi = machine.SPI(pins["spi"], baudrate=8000000, sck=pin(pins["sck"]), mosi=pin(pins["mosi"]),
                          miso=pin(pins["miso"]))
        irq = None if pins.get("irq") is None else pin(pins["irq"], pin.IN)
        radio = nrf24.NRF24(spi, pin(pins["csn"], pin.OUT, value=1), pin(pins["ce"], pin.OUT, value=0), irq=irq,
                            pa_level=settings["radio_pa_level"])
    link = hm_link.HoymilesLink(fleet, radio, dtu, clock_s2000, max_inverters=len(rows),
                                poll_period_ms=hm_air.nrf_poll_period_ms(len(rows)))
    return _link(link, rows)


def cmt_link(pins, fleet, settings, dtu, clock_s2000, rows, link=None):
    """The HMS/HMT link on a CMT2300A (board key "cmt": sclk, sdio, csb, fcsb, gpio3 or null); None without rows.

    Raises ValueError for a frequency outside the region's legal range (hm_band.Band). With `link` (the
    running one): on its radio and band, not set up again.
    """
    if not pins or not rows:
        return None
    import hm_link

    if link is not None:  # the running link's radio, band and airtime account (the duty cycle runs on)
        airtime = link.airtime
        link = hm_link.HoymilesLink(fleet, link.radio, dtu, clock_s2000, max_inverters=len(rows), band=link.band)
        link.airtime = airtime
        return _link(link, rows)
    import time

    import cmt2300a
    import hm_band
    import machine

    band = hm_band.Band(settings["cmt_region"], settings["cmt_frequency_mhz"])
    pin = machine.Pin
    spi3 = cmt2300a.Spi3(pin(pins["sclk"], pin.OUT, value=0), pin(pins["sdio"], pin.OUT, value=0),
                         pin(pins["csb"], pin.OUT, value=1), pin(pins["fcsb"], pin.OUT, value=1))
    irq = None if pins.get("gpio3") is None else pin(pins["gpio3"], pin.IN)
    radio = cmt2300a.CMT2300A(spi3, band.base_mhz, irq=irq, sleep_ms=getattr(time, "sleep_ms", None))
    radio.set_channel(band.channel)
    link = hm_link.HoymilesLink(fleet, radio, dtu, clock_s2000, max_inverters=len(rows), band=band)
    return _link(link, rows)


def _link(link, rows):
    for row, serial in rows:
        link.add(row, serial)
    return link
