"""CMT2300A driver for the Hoymiles HMS/HMT radio link (sub-GHz, GFSK 20 kbps, variable-length packets).

The chip sits on its own 3-wire SPI: one data line (SDIO) used in both
directions, SCLK, and two chip selects, CSB for the registers and FCSB for the
FIFO. MicroPython's machine.SPI cannot turn a pin around in the middle of a
transfer, so `Spi3` clocks the bits itself (mode 0, MSB first): a register
access is CSB low, R/W bit and 7-bit address, 8 data bits (SDIO turned to input
for a read), CSB high; a FIFO access is one byte per FCSB pulse, its direction
set in FIFO_CTL.

`CMT2300A` sets the chip up as OpenDTU and ahoy do (register banks exported
from CMOSTEK's RFPDK: 26 MHz crystal, GFSK 20 kbps, 20 kHz deviation, 30-byte
preamble, sync word "MHZH", variable length with the length byte first,
FEC(7,4), the chip's IBM-16 CRC over the payload, no whitening), a 64-byte
merged FIFO, 250 kHz channels above the band's base (860 MHz bank for EU,
900 MHz bank for US/BR), and the chip stays in RX after a packet. It offers
the radio interface of hm_air (what nrf24.NRF24 offers) plus
`set_channel(channel)`; the address arguments are ignored (the CMT2300A has no
addresses, the link filters by bytes 5-8 of each answer):

    listen(address)                     RX on the current channel
    send_start(address, buf, length)    one packet, then back to RX
    send_done()                         SEND_PENDING until the chip reports TX done, then SEND_OK
    recv_into(buf, now_ms)              one packet with a good chip CRC from the FIFO, or 0
    set_channel(channel)                0..254: base + channel * 250 kHz

Timing: a frame of 27 bytes is 34.6 ms on the air; `send_done` returns
SEND_FAILED if TX done has not come after `_TX_DONE_CHECKS` calls (about
0.8 s at the link's 4 ms step). Every call is a few register accesses of 16
clocks; a FIFO read of a 27-byte frame is 28 FCSB pulses. Bit-banged, each
clock is a few pin calls, so a register access costs tens of microseconds on
the ESP32 and a frame read or write a few milliseconds (native code). With
GPIO3 wired (INT2 = PKT_OK, active high) `recv_into` costs nothing while no
packet is waiting.

Allocation: the register tables are bytes constants; every method after
`__init__` works on ints and caller buffers and allocates nothing.
"""

from compat import const, micropython
from hm_air import SEND_FAILED, SEND_OK, SEND_PENDING

# Names with a leading underscore are used only here: MicroPython folds a private const() into the
# bytecode, where a public one also costs an interned name and a slot in the module's globals (RAM, as
# the .mpy is imported into RAM). The public ones are imported elsewhere (the fake chip, the tests).
# Registers (CMOSTEK cmt2300a_defs / datasheet)
_CUS_CMT10 = const(0x09)
_CUS_SYS2 = const(0x0D)
_CUS_PKT15 = const(0x46)
_CUS_PKT17 = const(0x48)
_CUS_MODE_CTL = const(0x60)
_CUS_MODE_STA = const(0x61)
_CUS_EN_CTL = const(0x62)
_CUS_FREQ_CHNL = const(0x63)
_CUS_FREQ_OFS = const(0x64)
_CUS_IO_SEL = const(0x65)
_CUS_INT1_CTL = const(0x66)
_CUS_INT2_CTL = const(0x67)
_CUS_INT_EN = const(0x68)
_CUS_FIFO_CTL = const(0x69)
_CUS_INT_CLR1 = const(0x6A)
_CUS_INT_CLR2 = const(0x6B)
_CUS_FIFO_CLR = const(0x6C)
_CUS_INT_FLAG = const(0x6D)
_CUS_FIFO_FLAG = const(0x6E)
_CUS_SOFT_RESET = const(0x7F)

# MODE_CTL commands and MODE_STA states
_GO_STBY = const(0x02)
_GO_RX = const(0x08)
_GO_SLEEP = const(0x10)
_GO_TX = const(0x40)
_STA_STBY = const(0x02)
# bits
TX_DONE_FLG = const(0x08)  # INT_CLR1
_TX_DONE_CLR = const(0x04)
_PKT_OK_FLG = const(0x01)  # INT_FLAG
_CRC_OK_FLG = const(0x02)
_CLR2_ALL = const(0x3F)  # INT_CLR2: LBD, preamble, sync, node, CRC, packet done
_FIFO_MERGE_EN = const(0x02)
_FIFO_RX_TX_SEL = const(0x04)
_SPI_FIFO_WR = const(0x01)
_FIFO_CLR_TX = const(0x01)
_FIFO_CLR_RX = const(0x02)
_RX_FIFO_NMTY = const(0x20)  # FIFO_FLAG
_CFG_RETAIN = const(0x10)
_RSTN_IN_EN = const(0x20)
_LOCKING_EN = const(0x20)
_GPIO3_INT2 = const(0x20)
_INT_SEL_TX_DONE = const(0x0A)
_INT_SEL_PKT_OK = const(0x07)
_INT_ENABLE = const(0x3B)  # TX done, preamble, sync, CRC ok, packet done
FH_OFFSET = const(100)  # channel step 100 * 2.5 kHz = 250 kHz

PAYLOAD_MAX = const(32)
_TX_DONE_CHECKS = const(200)

# Register banks exported from RFPDK 1.46 (OpenDTU cmt2300a_params_860/900): the CMT,
# system, data rate, baseband and TX banks are the same in both bands except one data
# rate byte (0x27); the frequency bank sets the base (channel 0).
_BANKS = (
    (0x00, b"\x00\x66\xec\x1c\x70\x80\x14\x08\x11\x02\x02\x00"),
    (0x0C, b"\xae\xe0\x35\x00\x00\xf4\x10\xe2\x42\x20\x0c\x81"),
    (0x20, b"\xa6\xc9\x20\x20\xd2\x35\x0c\x0a\x9f\x4b\x29\x29\xc0\x14\x05\x53\x10\x00\xb4\x00\x00\x01\x00\x00"),
    (0x38, b"\x12\x1e\x00\xaa\x06\x00\x00\x00\x00\x48\x5a\x48\x4d\x01\x1f\x00\x00\x00\x00\x00\xc3\x00\x00\x60"
           b"\xff\x00\x00\x1f\x10"),
    (0x55, b"\x70\x4d\x06\x00\x07\x50\x00\x53\x09\x3f\x7f"),
)
_FREQUENCY_BANK_ADDR = const(0x18)
_FREQUENCY_860 = b"\x42\x32\xcf\x82\x42\x27\x76\x12"
_FREQUENCY_900 = b"\x45\x46\x0a\x84\x45\x3b\xb1\x13"
_FSK4 = const(0x27)
_FSK4_BY_BAND = {860: 0x0A, 900: 0x0B}


class RadioError(Exception):
    pass


class Spi3:
    """3-wire SPI bit-banged on four pins (machine.Pin or alike); SDIO is turned around for reads."""

    def __init__(self, sclk, sdio, csb, fcsb):
        self._sclk = sclk
        self._sdio = sdio
        self._csb = csb
        self._fcsb = fcsb
        self._in = sdio.IN
        self._out = sdio.OUT
        sclk(0)
        csb(1)
        fcsb(1)
        sdio.init(sdio.OUT, value=0)

    def write_reg(self, address, value):
        self._csb(0)
        self._send(address & 0x7F)
        self._send(value)
        self._csb(1)

    def read_reg(self, address):
        self._csb(0)
        self._send(0x80 | address)
        self._sdio.init(self._in)
        value = self._receive()
        self._sdio.init(self._out)
        self._csb(1)
        return value

    def write_fifo(self, buf, length):
        for i in range(length):
            self._fcsb(0)
            self._send(buf[i])
            self._fcsb(1)

    def read_fifo(self, buf, length):
        """Read `length` FIFO bytes into buf[0:length]."""
        self._sdio.init(self._in)
        for i in range(length):
            self._fcsb(0)
            buf[i] = self._receive()
            self._fcsb(1)
        self._sdio.init(self._out)

    @micropython.native
    def _send(self, byte):
        sclk = self._sclk
        sdio = self._sdio
        mask = 0x80
        while mask:
            sdio(1 if byte & mask else 0)
            sclk(1)
            sclk(0)
            mask >>= 1

    @micropython.native
    def _receive(self):
        sclk = self._sclk
        sdio = self._sdio
        value = 0
        for _ in range(8):
            sclk(1)
            value = (value << 1) | sdio()
            sclk(0)
        return value


class CMT2300A:
    def __init__(self, spi3, base_mhz, irq=None, sleep_ms=None):
        """`spi3`: a Spi3; `base_mhz`: 860 (EU) or 900 (US, BR); `irq`: GPIO3 as an input pin, or None."""
        if base_mhz not in _FSK4_BY_BAND:
            raise ValueError("the CMT2300A banks cover 860 or 900 MHz, not %r" % base_mhz)
        self._spi = spi3
        self._irq = irq
        self._sending = False
        self._checks = 0
        self._more = False  # the FIFO may hold another packet
        self.channel = 0
        self.crc_errors = 0
        self.sent = 0
        spi3.write_reg(_CUS_SOFT_RESET, 0xFF)
        if sleep_ms is not None:
            sleep_ms(20)
        spi3.write_reg(_CUS_MODE_CTL, _GO_STBY)
        spi3.write_reg(_CUS_PKT17, 0xAA)
        if spi3.read_reg(_CUS_PKT17) != 0xAA or not self._in_standby():
            raise RadioError("no CMT2300A answers on its SDIO/SCLK/CSB pins")
        self._setup(base_mhz)

    def _in_standby(self):
        for _ in range(20):  # the switch takes microseconds; each read is about 50 pin calls
            if self._spi.read_reg(_CUS_MODE_STA) & 0x0F == _STA_STBY:
                return True
        return False

    def _setup(self, base_mhz):
        spi = self._spi
        spi.write_reg(_CUS_MODE_STA, (spi.read_reg(_CUS_MODE_STA) | _CFG_RETAIN) & ~_RSTN_IN_EN)
        spi.write_reg(_CUS_EN_CTL, spi.read_reg(_CUS_EN_CTL) | _LOCKING_EN)
        spi.write_reg(_CUS_SYS2, spi.read_reg(_CUS_SYS2) & 0x1F)  # no low-frequency oscillator
        for address, bank in _BANKS:
            for i in range(len(bank)):
                spi.write_reg(address + i, bank[i])
        bank = _FREQUENCY_860 if base_mhz == 860 else _FREQUENCY_900
        for i in range(len(bank)):
            spi.write_reg(_FREQUENCY_BANK_ADDR + i, bank[i])
        spi.write_reg(_FSK4, _FSK4_BY_BAND[base_mhz])
        spi.write_reg(_CUS_CMT10, (spi.read_reg(_CUS_CMT10) & 0xF8) | 0x02)  # crystal amplitude code 2
        spi.write_reg(_CUS_IO_SEL, _GPIO3_INT2)
        spi.write_reg(_CUS_INT1_CTL, _INT_SEL_TX_DONE)
        spi.write_reg(_CUS_INT2_CTL, _INT_SEL_PKT_OK)
        spi.write_reg(_CUS_INT_EN, _INT_ENABLE)
        spi.write_reg(_CUS_FREQ_OFS, FH_OFFSET)
        spi.write_reg(_CUS_FIFO_CTL, _FIFO_MERGE_EN)
        spi.write_reg(_CUS_MODE_CTL, _GO_SLEEP)  # the configuration takes effect
        spi.write_reg(_CUS_MODE_CTL, _GO_STBY)

    # --- the radio interface -------------------------------------------------------

    def listen(self, address):
        self._start_rx()

    def set_channel(self, channel):
        """Work on base + channel * 250 kHz from now on (restarts RX unless a packet is going out)."""
        self.channel = channel
        if self._sending:
            self._spi.write_reg(_CUS_FREQ_CHNL, channel)  # the chip is in TX: used from the next packet
            return
        self._spi.write_reg(_CUS_MODE_CTL, _GO_STBY)
        self._spi.write_reg(_CUS_FREQ_CHNL, channel)
        self._start_rx()

    def send_start(self, address, buf, length):
        spi = self._spi
        spi.write_reg(_CUS_MODE_CTL, _GO_STBY)
        self._clear_flags()
        spi.write_reg(_CUS_FIFO_CTL, _FIFO_MERGE_EN | _FIFO_RX_TX_SEL | _SPI_FIFO_WR)
        spi.write_reg(_CUS_FIFO_CLR, _FIFO_CLR_TX)
        spi.write_reg(_CUS_FREQ_CHNL, self.channel)
        spi.write_reg(_CUS_PKT15, length)
        spi.write_fifo(buf, length)
        spi.write_reg(_CUS_MODE_CTL, _GO_TX)
        self._sending = True
        self._checks = 0
        self.sent += 1

    def send_done(self):
        if not self._sending:
            return SEND_FAILED
        if not self._spi.read_reg(_CUS_INT_CLR1) & TX_DONE_FLG:
            self._checks += 1
            if self._checks < _TX_DONE_CHECKS:
                return SEND_PENDING
            result = SEND_FAILED
        else:
            result = SEND_OK
        self._sending = False
        self._start_rx()
        return result

    def recv_into(self, buf, now_ms):
        """Copy one received packet (its chip CRC was good) into buf; its length, or 0."""
        if self._sending:
            return 0
        if self._irq is not None and not self._more and not self._irq.value():
            return 0  # INT2 (PKT_OK) is low: nothing arrived
        spi = self._spi
        flags = spi.read_reg(_CUS_INT_FLAG)
        if flags & _PKT_OK_FLG and not flags & _CRC_OK_FLG:
            self.crc_errors += 1
        spi.write_reg(_CUS_INT_CLR2, _CLR2_ALL)  # before looking into the FIFO: a later packet sets it again
        if not spi.read_reg(_CUS_FIFO_FLAG) & _RX_FIFO_NMTY:
            self._more = False
            return 0
        self._more = True
        spi.read_fifo(buf, 1)
        length = buf[0]
        if length == 0 or length > PAYLOAD_MAX:
            self._start_rx()  # out of step with the packets in the FIFO: start clean
            return 0
        spi.read_fifo(buf, length)
        return length

    def power_down(self):
        self._sending = False
        self._spi.write_reg(_CUS_MODE_CTL, _GO_SLEEP)

    # --- internals -------------------------------------------------------------------

    def _start_rx(self):
        spi = self._spi
        spi.write_reg(_CUS_MODE_CTL, _GO_STBY)
        self._clear_flags()
        spi.write_reg(_CUS_FIFO_CTL, _FIFO_MERGE_EN)  # SPI reads the FIFO, which holds RX data
        spi.write_reg(_CUS_FIFO_CLR, _FIFO_CLR_RX)
        spi.write_reg(_CUS_FREQ_CHNL, self.channel)
        spi.write_reg(_CUS_MODE_CTL, _GO_RX)
        self._more = False

    def _clear_flags(self):
        self._spi.write_reg(_CUS_INT_CLR1, _TX_DONE_CLR | 0x03)  # TX done, sleep and RX timeouts
        self._spi.write_reg(_CUS_INT_CLR2, _CLR2_ALL)
