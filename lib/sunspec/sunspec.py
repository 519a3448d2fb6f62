"""SunSpec inverter maps: discovery, the model walk, and scale-factor arithmetic in integers.

A SunSpec device holds the marker "SunS" (0x5375 0x6E53) at one of the base
registers 40000, 50000 or 0, followed by a chain of models, each an ID
register, a length register L and L data registers, ended by ID 0xFFFF.
`SunSpecMap` finds the marker and walks the chain one Modbus read at a time,
without doing any I/O itself: the link (lib/sunspec/sunspec_link.py) asks it what to
read (`plan()` sets `register` and `count`), runs the transaction on its
Modbus master and hands the answer back (`answer(master)`) or reports the
failure (`fail(code)`). That keeps the protocol logic testable without a
bus and lets one master serve a meter and several inverters.

What the walk keeps (register address of each model's ID register):
- the inverter model: 101/102/103 (integer values with scale factors) or
  111/112/113 (float32 values); AC power is W at +14 with W_SF at +15, or
  float32 W at +22;
- the rating: model 121 WMax (+2) with WMax_SF (+22), the reference of
  WMaxLimPct; else model 120 WRtg (+3) with WRtg_SF (+4);
- the limit control: model 123 "Immediate Controls" (WMaxLimPct +5,
  WMaxLimPct_WinTms +6, WMaxLimPct_RvrtTms +7, WMaxLimPct_RmpTms +8,
  WMaxLim_Ena +9, WMaxLimPct_SF +23), or where 123 is absent model 704 "DER
  AC Controls" (WMaxLimPctEna +14, WMaxLimPct +15, WMaxLimPctRvrt +16,
  WMaxLimPctRvrtEna +17, WMaxLimPctRvrtTms +18 as uint32). The 704 scale
  factor moved between revisions of the model, so its offset is taken from
  the model length: L=65 (the published model, SF at +54) or L=69 (the draft
  with int32 WSetPct, SF at +58). Other lengths are refused.
Offsets are from the sunspec/models JSON definitions.

Every register we will read or write is checked when its model header is
read: the model must be long enough to hold the fields we use (a model
shorter than its published length would put them in the next model), and
the model must end below 0x10000. A map that fails either check is refused
(BROKEN, SHORT_MODEL or BAD_MAP) before anything is written, so no address
is ever taken modulo 2**16.

Values are integer x 10**SF. "Not implemented" is 0x8000 for int16 and
sunssf, 0xFFFF for uint16. Powers here are deci-watts, percentages are
register units of 10**SF percent.

Timing and allocation: plan/answer/fail and the conversions are a few
small-int operations each and allocate nothing; every intermediate stays
within +-2**30 for the documented ranges (host_tests/test_sunspec_ranges.py).
"""

from compat import const

SUNS_HI = const(0x5375)  # "Su"
SUNS_LO = const(0x6E53)  # "nS"
BASES = (40000, 50000, 0)
END_ID = const(0xFFFF)
INT16_NOT_IMPLEMENTED = const(0x8000)
UINT16_NOT_IMPLEMENTED = const(0xFFFF)
MAX_MODELS = const(64)  # a longer chain is a broken map, not a device

COMMON = const(1)
NAMEPLATE = const(120)
SETTINGS = const(121)
CONTROLS = const(123)
DER_AC_CONTROLS = const(704)

# Inverter models 101-103 (integer + SF) and 111-113 (float32).
INVERTER_W = const(14)
INVERTER_W_SF = const(15)
INVERTER_FLOAT_W = const(22)
# Model 120 nameplate ratings.
NAMEPLATE_WRTG = const(3)
NAMEPLATE_WRTG_SF = const(4)
# Model 121 basic settings.
SETTINGS_WMAX = const(2)
SETTINGS_WMAX_SF = const(22)
# Model 123 immediate controls.
CONTROLS_WMAXLIMPCT = const(5)  # then WinTms, RvrtTms, RmpTms, WMaxLim_Ena: written as one block
CONTROLS_WMAXLIMPCT_SF = const(23)
CONTROLS_BLOCK = const(5)
# Model 704 DER AC controls.
DER_WMAXLIMPCTENA = const(14)  # then WMaxLimPct, WMaxLimPctRvrt, WMaxLimPctRvrtEna, WMaxLimPctRvrtTms (2)
DER_BLOCK = const(6)
DER_SF_BY_LENGTH = {65: 54, 69: 58}
LAST_REGISTER = const(0xFFFF)

# SunSpecMap.phase
FIND = const(0)  # looking for "SunS"
WALK = const(1)  # reading model headers
RATING = const(2)  # reading WMax or WRtg
SCALE = const(3)  # reading WMaxLimPct_SF
READY = const(4)
BROKEN = const(5)  # see `error`; the link retries from FIND later

# SunSpecMap.error
OK = const(0)
NO_ANSWER = const(1)  # a transaction failed (timeout, CRC, exception) during discovery
NO_MAP = const(2)  # no "SunS" marker at any base
BAD_MAP = const(3)  # the chain leaves the register space or never ends
NO_INVERTER = const(4)  # no model 101-103 or 111-113
NO_RATING = const(5)  # neither 121 WMax nor 120 WRtg is implemented
NO_CONTROLS = const(6)  # neither 123 nor a 704 of known length
BAD_SCALE = const(7)  # a scale factor outside what we convert exactly
SHORT_MODEL = const(8)  # a model we use is too short to hold the fields we read or write

ERROR_NAMES = (
    "ok",
    "no answer",
    "no SunS marker at 40000, 50000 or 0",
    "broken model chain",
    "no inverter model (101-103, 111-113)",
    "no rating (121 WMax, 120 WRtg)",
    "no power limit control (123, 704)",
    "unsupported scale factor",
    "a model is too short for its fields",
)

# A value no conversion returns: not implemented or out of range (-2**30, as f32.INVALID;
# written as a sum because 0x40000000 itself is a long int on the ESP32).
INVALID = const(-0x3FFFFFFF - 1)
_MAX_POWER_SF = const(3)  # W x 10**3 at most: 32767 kW still fits in deci-watts below 2**30
_MIN_SF = const(-6)
_MIN_PCT_SF = const(-2)  # WMaxLimPct is uint16: 100 % must fit, so 0.01 % steps at the finest
MAX_WMAX_DW = const(99999999)  # 10 MW: limit_value's long division stays below 2**30


def signed16(value):
    return value - 0x10000 if value & 0x8000 else value


def to_dw(value, sf):
    """value x 10**sf W in deci-watts (rounded half away from zero), or INVALID.

    value: a signed 16-bit register value or an unsigned one (ratings); sf: a
    sunssf register value already made signed. Values up to 65535, sf -6..3.
    """
    if not _MIN_SF <= sf <= _MAX_POWER_SF:  # also "not implemented" (-32768)
        return INVALID
    exponent = sf + 1  # deci-watts are W x 10
    if exponent >= 0:
        while exponent:
            value *= 10
            exponent -= 1
        return value
    divisor = 1
    while exponent:
        divisor *= 10
        exponent += 1
    half = divisor >> 1
    if value < 0:
        return -((half - value) // divisor)
    return (value + half) // divisor


def full_scale(sf):
    """The WMaxLimPct register value of 100 % for scale factor `sf` (-2..0), or INVALID."""
    if not _MIN_PCT_SF <= sf <= 0:
        return INVALID
    scale = 100
    while sf:
        scale *= 10
        sf += 1
    return scale


def limit_value(limit_dw, wmax_dw, sf):
    """The WMaxLimPct register value for a limit of `limit_dw` out of `wmax_dw`.

    round(limit / wmax x 100 x 10**-sf), clamped to 0..100 %. Computed as a
    decimal long division so that no intermediate exceeds 10 x wmax_dw: exact
    for ratings up to 10 MW (wmax_dw <= MAX_WMAX_DW), any limit below 2**30
    and sf -2..0.
    """
    top = full_scale(sf)
    if top == INVALID or wmax_dw <= 0:
        return INVALID
    if limit_dw <= 0:
        return 0
    if limit_dw >= wmax_dw:
        return top
    quotient = 0
    remainder = limit_dw  # limit_dw < wmax_dw: the integer part is 0
    digits = top
    while digits > 1:  # one decimal digit of the percentage per pass
        remainder *= 10
        quotient = quotient * 10 + remainder // wmax_dw
        remainder %= wmax_dw
        digits //= 10
    if 2 * remainder >= wmax_dw:
        quotient += 1
    return quotient


def _last_offset(model, length):
    """The highest register offset (from the model's ID) we read or write in `model`; 0 if we use none."""
    if 101 <= model <= 103:
        return INVERTER_W_SF
    if 111 <= model <= 113:
        return INVERTER_FLOAT_W + 1
    if model == NAMEPLATE:
        return NAMEPLATE_WRTG_SF
    if model == SETTINGS:
        return SETTINGS_WMAX_SF
    if model == CONTROLS:
        return CONTROLS_WMAXLIMPCT_SF
    if model == DER_AC_CONTROLS and length in DER_SF_BY_LENGTH:
        return DER_SF_BY_LENGTH[length]  # beyond the written block (+14 .. +19)
    return 0


class SunSpecMap:
    """What is known about one SunSpec device at Modbus `address`; see the module docstring."""

    def __init__(self, address):
        self.address = address
        self.register = 0  # the read plan() asks for
        self.count = 0
        self.reset()

    def reset(self):
        self.phase = FIND
        self.error = OK
        self.base_index = 0
        self.base = -1
        self.cursor = 0
        self.models = 0
        self.inverter_reg = -1
        self.inverter_model = 0
        self.nameplate_reg = -1
        self.settings_reg = -1
        self.controls_reg = -1
        self.der_reg = -1
        self.der_sf_offset = 0
        self.output_reg = -1  # AC power: W and W_SF, or the float32 W
        self.limit_reg = -1  # where the control block is written
        self.limit_model = 0  # CONTROLS or DER_AC_CONTROLS
        self.wmax_dw = 0
        self.limit_sf = 0
        self.full_scale = 0

    @property
    def ready(self):
        return self.phase == READY

    @property
    def float_values(self):
        return self.inverter_model > 110

    def plan(self):
        """Set `register` and `count` to the next discovery read; False when there is none."""
        phase = self.phase
        if phase == FIND:
            self.register = BASES[self.base_index]
            self.count = 4  # "SunS" and the first model's header
        elif phase == WALK:
            self.register = self.cursor
            self.count = 2
        elif phase == RATING:
            if self.settings_reg >= 0:
                self.register = self.settings_reg + SETTINGS_WMAX
                self.count = SETTINGS_WMAX_SF - SETTINGS_WMAX + 1
            else:
                self.register = self.nameplate_reg + NAMEPLATE_WRTG
                self.count = 2
        elif phase == SCALE:
            if self.limit_model == CONTROLS:
                self.register = self.limit_reg - CONTROLS_WMAXLIMPCT + CONTROLS_WMAXLIMPCT_SF
            else:
                self.register = self.limit_reg - DER_WMAXLIMPCTENA + self.der_sf_offset
            self.count = 1
        else:
            return False
        return True

    def fail(self, code=NO_ANSWER):
        """The planned read failed; at FIND the next base is tried."""
        if self.phase == FIND and self.base_index + 1 < len(BASES):
            self.base_index += 1
            return
        self._broken(NO_MAP if self.phase == FIND else code)

    def _broken(self, error):
        self.phase = BROKEN
        self.error = error

    def answer(self, master):
        """Take the registers of the planned read from `master` (a modbus.Master after DONE)."""
        phase = self.phase
        if phase == FIND:
            if master.register(0) != SUNS_HI or master.register(1) != SUNS_LO:
                self.fail(NO_MAP)
                return
            self.base = self.register
            self.phase = WALK
            self._header(self.register + 2, master.register(2), master.register(3))
        elif phase == WALK:
            self._header(self.cursor, master.register(0), master.register(1))
        elif phase == RATING:
            self._rating(master)
        elif phase == SCALE:
            self._scale(signed16(master.register(0)))

    def _header(self, register, model, length):
        if model == END_ID:
            self._walked()
            return
        self.models += 1
        self.cursor = register + 2 + length
        if model == 0 or self.models > MAX_MODELS or self.cursor + 1 > LAST_REGISTER:
            self._broken(BAD_MAP)  # the next header must fit too: the chain ends with one
            return
        last = _last_offset(model, length)
        if last > length + 1:
            self._broken(SHORT_MODEL)
            return
        self._keep(register, model, length)

    def _keep(self, register, model, length):
        """Remember where a model we use starts (every field of it lies inside it, see _header)."""
        if self.inverter_reg < 0 and (101 <= model <= 103 or 111 <= model <= 113):
            self.inverter_reg = register
            self.inverter_model = model
            self.output_reg = register + (INVERTER_FLOAT_W if model > 110 else INVERTER_W)
        elif model == NAMEPLATE:
            self.nameplate_reg = register
        elif model == SETTINGS:
            self.settings_reg = register
        elif model == CONTROLS:
            self.controls_reg = register
        elif model == DER_AC_CONTROLS and length in DER_SF_BY_LENGTH:
            self.der_reg = register
            self.der_sf_offset = DER_SF_BY_LENGTH[length]

    def _walked(self):
        if self.inverter_reg < 0:
            self._broken(NO_INVERTER)
        elif self.settings_reg < 0 and self.nameplate_reg < 0:
            self._broken(NO_RATING)
        elif self.controls_reg >= 0:
            self.limit_model = CONTROLS
            self.limit_reg = self.controls_reg + CONTROLS_WMAXLIMPCT
            self.phase = RATING
        elif self.der_reg >= 0:
            self.limit_model = DER_AC_CONTROLS
            self.limit_reg = self.der_reg + DER_WMAXLIMPCTENA
            self.phase = RATING
        else:
            self._broken(NO_CONTROLS)

    def _rating(self, master):
        from_settings = self.settings_reg >= 0
        value = master.register(0)
        sf = signed16(master.register(SETTINGS_WMAX_SF - SETTINGS_WMAX if from_settings else 1))
        wmax_dw = INVALID if value == UINT16_NOT_IMPLEMENTED else to_dw(value, sf)
        if 0 < wmax_dw <= MAX_WMAX_DW:
            self.wmax_dw = wmax_dw
            self.phase = SCALE
        elif from_settings and self.nameplate_reg >= 0:
            self.settings_reg = -1  # WMax not implemented: plan() falls back to the nameplate
        else:
            self._broken(NO_RATING)

    def _scale(self, sf):
        top = full_scale(sf)
        if top == INVALID:
            self._broken(BAD_SCALE)
            return
        self.limit_sf = sf
        self.full_scale = top
        self.phase = READY
