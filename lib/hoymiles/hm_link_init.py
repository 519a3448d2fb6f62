"""HoymilesLink's constructor and `add`, and RealTime's (hm_answers): loaded to build a link, then dropped.

They run at boot (and for a new inverter list) only (compat.build): kept in the classes, their bytecode would stay in
RAM while the gateway runs (the firmware's .mpy files are imported into RAM). Allocates: buffers and tables.
"""

from compat import const, ints
from hm_answers import RealTime
from hm_fragments import PAYLOAD_MAX, Fragments
from hm_frames import MAX_FRAME_LEN, OK, frame_address, prefix, radio_address
from hm_link import IDLE, POLL_PERIOD_MS
from hm_models import RADIO_CMT2300A, RADIO_NRF24, is_hms, radio_of

_MAX_INPUTS = const(6)  # of a RealTime (HMT-6T)


def hm_link(self, fleet, radio, dtu_serial, clock, max_inverters=4, poll_period_ms=POLL_PERIOD_MS, band=None):
    self.fleet = fleet
    self.radio = radio
    self.band = band  # hm_band.Band for HMS/HMT on a CMT2300A, None for HM on an nRF24
    self.airtime = None
    if band is not None:  # HMS/HMT: only a board with a CMT2300A loads hm_band
        from hm_band import Airtime

        self.airtime = Airtime(band.budget_ms)
    self.foreign = 0  # answers dropped because they were addressed to another DTU
    self.clock = clock
    self.poll_period_ms = poll_period_ms
    self.dtu = frame_address(dtu_serial)
    self.count = 0
    self.max_inverters = max_inverters
    # per inverter slot
    self.row = bytearray(max_inverters)
    self.family = bytearray(max_inverters)
    self.hms = bytearray(max_inverters)
    self.frame_addr = []
    self.radio_addr = []
    # The last RealTimeRunData parsed, of whichever inverter answered last: only its AC power goes on (to the
    # Fleet, at once), so one parse target serves every slot (a RealTime per slot cost ~0.5 kB each).
    self.data = RealTime()
    self.rated_w = ints(max_inverters)  # from DevInfo; 0 while unknown
    self.switched_off = bytearray(max_inverters)
    self.limit_dw = ints(max_inverters)  # the last acknowledged limit, -1 if unknown
    self.limit_t_ms = ints(max_inverters)
    self.poll_t_ms = ints(max_inverters)
    self.polled = bytearray(max_inverters)  # 0 before the first poll
    self.poll_failures = ints(max_inverters)  # in a row
    self.dev_info_tries = bytearray(max_inverters)
    self.persist_dw = ints(max_inverters)
    self.persist_pending = bytearray(max_inverters)
    self.persist_t_ms = ints(max_inverters)
    self.persist_done = bytearray(max_inverters)  # 1 after a first persistent write
    self.handover = bytearray(max_inverters)  # 1: send ChannelChange on the boot frequency first
    self.slot_of_row = bytearray(b"\xff" * fleet.count)
    # the open transaction
    self.state = IDLE
    self.job = 0  # hm_link._JOB_NONE
    self.slot = 0
    self.target_dw = 0  # of the command in flight
    self.sends = 0
    self.rerequests = 0
    self.deadline_ms = 0
    self.next_poll_slot = 0
    self.result = OK  # of the last finished transaction
    self._tx = bytearray(MAX_FRAME_LEN)
    self._tx_len = 0
    self._rx = bytearray(MAX_FRAME_LEN)
    self._fragments = Fragments()
    self._payload = bytearray(PAYLOAD_MAX)
    self.radio.listen(radio_address(dtu_serial))


def add(self, row, serial):
    """HoymilesLink.add."""
    from hm_family import family_of_prefix  # (boot only: wiring.py drops the module afterwards)
    family = family_of_prefix(prefix(serial))
    if radio_of(family) != (RADIO_NRF24 if self.band is None else RADIO_CMT2300A):
        raise ValueError("prefix %04X is not an inverter for this link's radio (%s)" % (
            prefix(serial), "nRF24: HM" if self.band is None else "CMT2300A: HMS/HMT"))
    if self.count >= self.max_inverters:
        raise ValueError("link is full")
    slot = self.count
    self.count += 1
    self.row[slot] = row
    self.slot_of_row[row] = slot
    self.family[slot] = family
    self.hms[slot] = 1 if is_hms(family) else 0
    self.frame_addr.append(frame_address(serial))
    self.radio_addr.append(radio_address(serial))
    self.limit_dw[slot] = -1
    self.handover[slot] = 1 if self.band is not None else 0
    self.fleet.can_switch_off[row] = 1
    return slot


def hm_answers(self):
    self.inputs = 0
    self.dc_voltage_dv = ints(_MAX_INPUTS)
    self.dc_current_ca = ints(_MAX_INPUTS)
    self.dc_power_dw = ints(_MAX_INPUTS)
    self.yield_total_wh = ints(_MAX_INPUTS)
    self.yield_day_wh = ints(_MAX_INPUTS)
    self.ac_voltage_dv = 0
    self.frequency_chz = 0
    self.ac_power_dw = 0
    self.reactive_dvar = 0
    self.ac_current_ca = 0
    self.power_factor_milli = 0
    self.temperature_ddeg = 0
    self.events = 0
    # per phase L1..L3 (three-phase HMT); single-phase models fill L1 only
    self.phase_voltage_dv = ints(3)
    self.phase_current_ca = ints(3)
