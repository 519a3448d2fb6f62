"""nRF24L01+ driver for the Hoymiles HM radio link (ESB with dynamic payloads).

The micropython-lib driver uses fixed payload sizes; Hoymiles frames are 11 to
27 bytes, so this one sets up what OpenDTU and ahoy do: 250 kbps, 5-byte
addresses, 2-byte CRC, dynamic payloads on pipes 0 and 1, auto-ack with up to
15 retransmits 1 ms apart, and channel hopping over 3/23/40/61/75 (every
transmission on the next channel; while listening, the next channel every
4 ms, starting three channels after the transmit channel, as ahoy does).

It takes the SPI bus and the CSN, CE (and optional IRQ) pins as objects, so
tests hand it a register-level fake; the firmware builds them from the board
file. Both directions are non-blocking, which is the radio interface the
inverter link relies on (hm_air; firmware/cmt2300a.py offers the same):

    listen(address)                     own 5-byte address (register order), RX on pipe 1
    send_start(address, buf, length)    start one transmission to a 5-byte address
    send_done()                         hm_air.SEND_PENDING, SEND_OK (acknowledged) or SEND_FAILED
    recv_into(buf, now_ms)              length of the frame copied into buf, or 0

Timing: each call is a few SPI transactions of 1 to 33 bytes (tens of us at
8 MHz; a payload's bytes go in power-of-two chunks, at most six SPI calls);
nothing sleeps. The chip stays powered up (standby), so switching
between TX and RX costs only its 130 us settling. With the IRQ pin wired,
`recv_into` skips the SPI status read while the pin is high (no event).
Call `recv_into` at least every 4 ms while an answer is expected, or hopping
slows down and fragments on other channels are missed.

Allocation: buffers and their six memoryview chunks are made once in __init__;
every method after that allocates nothing.
"""

from compat import const, ticks_diff
from hm_air import SEND_FAILED, SEND_OK, SEND_PENDING

# Names with a leading underscore are used only here: MicroPython folds a private const() into the
# bytecode, where a public one also costs an interned name and a slot in the module's globals (RAM, as
# the .mpy is imported into RAM). The public ones are imported elsewhere (the fake chip, the tests).
# Commands (datasheet 8.3.1)
_R_REGISTER = const(0x00)
_W_REGISTER = const(0x20)
R_RX_PL_WID = const(0x60)
_R_RX_PAYLOAD = const(0x61)
_W_TX_PAYLOAD = const(0xA0)
_FLUSH_TX = const(0xE1)
_FLUSH_RX = const(0xE2)
_NOP = const(0xFF)

# Registers (datasheet 9)
_CONFIG = const(0x00)
_EN_AA = const(0x01)
_EN_RXADDR = const(0x02)
_SETUP_AW = const(0x03)
_SETUP_RETR = const(0x04)
_RF_CH = const(0x05)
_RF_SETUP = const(0x06)
_STATUS = const(0x07)
_OBSERVE_TX = const(0x08)
_RX_ADDR_P0 = const(0x0A)
_RX_ADDR_P1 = const(0x0B)
_TX_ADDR = const(0x10)
_FIFO_STATUS = const(0x17)
_DYNPD = const(0x1C)
_FEATURE = const(0x1D)

# CONFIG bits
_EN_CRC = const(0x08)
_CRCO = const(0x04)
_PWR_UP = const(0x02)
_PRIM_RX = const(0x01)
# STATUS bits
RX_DR = const(0x40)
TX_DS = const(0x20)
_MAX_RT = const(0x10)
# FIFO_STATUS bits
_RX_EMPTY = const(0x01)
# FEATURE bits
_EN_DPL = const(0x04)
# RF_SETUP: _RF_DR_LOW selects 250 kbps; power in bits 2:1
_RF_DR_LOW = const(0x20)

PA_MIN = const(0)  # -18 dBm, OpenDTU's default
PA_LOW = const(1)  # -12 dBm
PA_HIGH = const(2)  # -6 dBm
PA_MAX = const(3)  # 0 dBm

CHANNELS = b"\x03\x17\x28\x3d\x4b"  # 3, 23, 40, 61, 75 = 2403 ... 2475 MHz
_HOP_MS = const(4)
_ADDRESS_LEN = const(5)
PAYLOAD_MAX = const(32)
_RETRIES = const(0x3F)  # _SETUP_RETR: ARD = 3 (1000 us), ARC = 15
# Listening starts 3 channels after the transmit channel (ahoy's heuristic; it
# matches a logged HM answer to channel 3 arriving on 61), then sweeps on.
_RX_OFFSET = const(3)
_CHUNKS = const(6)  # power-of-two chunks of a transfer: 1 .. PAYLOAD_MAX bytes


class RadioError(Exception):
    pass


class NRF24:
    def __init__(self, spi, csn, ce, irq=None, pa_level=PA_MIN, channels=CHANNELS):
        self._spi = spi
        self._csn = csn
        self._ce = ce
        self._irq = irq
        self._channels = channels
        self._status = bytearray(1)
        self._buf = bytearray(PAYLOAD_MAX)
        view = memoryview(self._buf)
        self._views = [view[: 1 << k] for k in range(_CHUNKS)]  # 1, 2, 4 ... 32 bytes (see _transfer)
        self._tx_index = 0
        self._rx_index = 0
        self._hop_t_ms = 0
        self._hop_started = False
        self._sending = False
        self.tx_channel = 0  # channel of the last transmission, for diagnostics
        csn(1)
        ce(0)
        self._write_reg(_SETUP_AW, 0x03)  # 5-byte addresses
        if self._read_reg(_SETUP_AW) != 0x03:
            raise RadioError("no nRF24L01+ answers on the SPI bus")
        self._write_reg(_RF_SETUP, _RF_DR_LOW | (pa_level & 3) << 1)
        if self._read_reg(_RF_SETUP) != _RF_DR_LOW | (pa_level & 3) << 1:
            raise RadioError("radio refuses 250 kbps: an nRF24L01 without +?")
        self._write_reg(_SETUP_RETR, _RETRIES)
        self._write_reg(_EN_AA, 0x03)  # auto-ack on pipes 0 (acks of our TX) and 1 (our address)
        self._write_reg(_EN_RXADDR, 0x03)
        self._write_reg(_FEATURE, _EN_DPL)
        self._write_reg(_DYNPD, 0x03)
        self._write_reg(_RF_CH, channels[0])
        self._command(_FLUSH_TX)
        self._command(_FLUSH_RX)
        self._write_reg(_STATUS, RX_DR | TX_DS | _MAX_RT)
        self._write_reg(_CONFIG, _EN_CRC | _CRCO | _PWR_UP | _PRIM_RX)

    # --- the radio interface -------------------------------------------------------

    def listen(self, address):
        """Receive frames sent to `address` (5 bytes, register order) and start listening."""
        self._write_addr(_RX_ADDR_P1, address)
        self._start_rx()

    def send_start(self, address, buf, length):
        """Queue `length` bytes of `buf` for `address` on the next channel and start sending."""
        self._ce(0)
        self._tx_index = (self._tx_index + 1) % len(self._channels)
        self.tx_channel = self._channels[self._tx_index]
        self._write_reg(_CONFIG, _EN_CRC | _CRCO | _PWR_UP)
        self._write_reg(_RF_CH, self.tx_channel)
        self._write_addr(_TX_ADDR, address)
        self._write_addr(_RX_ADDR_P0, address)  # the acknowledgement comes back on pipe 0
        self._command(_FLUSH_TX)
        self._command(_FLUSH_RX)  # whatever is still queued cannot answer this request
        self._write_reg(_STATUS, RX_DR | TX_DS | _MAX_RT)
        self._transfer(_W_TX_PAYLOAD, buf, length, True)
        self._sending = True
        self._ce(1)

    def send_done(self):
        """SEND_PENDING while retransmitting, then SEND_OK (acknowledged) or SEND_FAILED; listens after."""
        if not self._sending:
            return SEND_FAILED
        status = self._command(_NOP)
        if status & TX_DS:
            result = SEND_OK
        elif status & _MAX_RT:
            result = SEND_FAILED
            self._command(_FLUSH_TX)
        else:
            return SEND_PENDING
        self._sending = False
        self._write_reg(_STATUS, TX_DS | _MAX_RT)
        self._rx_index = self._tx_index + _RX_OFFSET - 1  # _start_rx moves on by one
        self._start_rx()
        return result

    def recv_into(self, buf, now_ms):
        """Copy one received frame into `buf` and return its length, or 0; hops channels while idle."""
        if self._sending:
            return 0
        if not self._hop_started:
            self._hop_started = True
            self._hop_t_ms = now_ms
        elif ticks_diff(now_ms, self._hop_t_ms) >= _HOP_MS:
            self._hop_t_ms = now_ms
            self._hop()
        if self._irq is not None and self._irq.value():
            return 0  # IRQ is active low: no event pending
        if not self._command(_NOP) & RX_DR and self._read_reg(_FIFO_STATUS) & _RX_EMPTY:
            return 0
        return self._read_payload(buf)

    def retransmits(self):
        """Retransmissions of the last packet (_OBSERVE_TX.ARC_CNT), for link quality."""
        return self._read_reg(_OBSERVE_TX) & 0x0F

    def power_down(self):
        self._ce(0)
        self._write_reg(_CONFIG, _EN_CRC | _CRCO)

    # --- internals -------------------------------------------------------------------

    def _read_payload(self, buf):
        self._transfer(R_RX_PL_WID, self._buf, 1, False)
        length = self._buf[0]
        if length == 0 or length > PAYLOAD_MAX:
            self._command(_FLUSH_RX)  # the datasheet's answer to a corrupt width
            self._write_reg(_STATUS, RX_DR)
            return 0
        self._transfer(_R_RX_PAYLOAD, buf, length, False)
        self._write_reg(_STATUS, RX_DR)
        return length

    def _start_rx(self):
        self._ce(0)
        self._rx_index = (self._rx_index + 1) % len(self._channels)
        self._write_reg(_RF_CH, self._channels[self._rx_index])
        self._write_reg(_CONFIG, _EN_CRC | _CRCO | _PWR_UP | _PRIM_RX)
        self._hop_started = False
        self._ce(1)

    def _hop(self):
        self._ce(0)
        self._rx_index = (self._rx_index + 1) % len(self._channels)
        self._write_reg(_RF_CH, self._channels[self._rx_index])
        self._ce(1)

    def _command(self, command):
        """One-byte command; returns _STATUS."""
        self._csn(0)
        self._spi.readinto(self._status, command)
        self._csn(1)
        return self._status[0]

    def _transfer(self, command, data, length, write):
        """Command followed by `length` bytes of `data` out (write) or into `data`; returns _STATUS."""
        self._csn(0)
        self._spi.readinto(self._status, command)
        self._stream(data, length, write)
        self._csn(1)
        return self._status[0]

    def _stream(self, data, length, write):
        """The data bytes pass through the head of self._buf in chunks of 32, 16 ... 1 bytes (one per bit of
        `length`, within the one transaction), so six prebuilt views serve every length (one view per
        length cost ~0.6 kB of RAM). The chunk of 2**k bytes starts where the larger ones end."""
        k = _CHUNKS - 1
        while k >= 0:
            if length >> k & 1:
                if write:
                    self._chunk_out(data, length >> k + 1 << k + 1, k)
                else:
                    self._chunk_in(data, length >> k + 1 << k + 1, k)
            k -= 1

    # (two functions, not one with a direction flag: the flag's local would take the frame past 11 words)
    def _chunk_out(self, data, offset, k):
        for i in range(offset, offset + (1 << k)):
            self._buf[i - offset] = data[i]
        self._spi.write(self._views[k])

    def _chunk_in(self, data, offset, k):
        self._spi.readinto(self._views[k], _NOP)
        for i in range(offset, offset + (1 << k)):
            data[i] = self._buf[i - offset]

    def _read_reg(self, reg):
        self._transfer(_R_REGISTER | reg, self._buf, 1, False)
        return self._buf[0]

    def _write_reg(self, reg, value):
        self._buf[0] = value
        self._transfer(_W_REGISTER | reg, self._buf, 1, True)

    def _write_addr(self, reg, address):
        self._transfer(_W_REGISTER | reg, address, _ADDRESS_LEN, True)
