"""The gateway application: board -> RS485 -> Modbus master -> meter -> Reading -> controller -> Fleet -> links.

    import app; app.main()     # main.py does this at boot; it returns, the loop runs from a timer
    app.status()               # live power, limits, meter and inverter health, error counters
    app.stop()                 # stop the loop (the plant keeps its last limits); the watchdog gets an hour

main() reads the board file and the saved configuration, builds every part
once, commands the fail-safe limits before any meter reading exists, and
starts the control loop (control_loop.py). Each tick (`step`) advances the
meter's Modbus transaction by one non-blocking poll, runs the controller (it
holds the fail-safe limits while the reading is missing, stale or invalid)
and lets each inverter link send what the Fleet has queued. A change made
with `cfg.set("export_limit_w", ...)` reaches the controller at once and acts
at the next tick.

Progress, for the watchdog: the bus finished a transaction (answered or
not) within the last `_STALL_MS`. A meter that stays silent still counts
as progress (timeouts are the state machine working); a Modbus state
machine that stopped finishing transactions does not.

A failure while starting is printed and leaves the REPL free with nothing
running. If the loop stops after repeated faults, the Fleet gets the
fail-safe limits and a small safe loop keeps only the links running so
they are delivered; see docs/FIRMWARE.md.

Timing and allocation: `step` allocates nothing (every part is built in
main(); counters are small ints); its cost is one Modbus poll plus one
controller step, well under one RS485 frame time.
"""

import json
import time

import cfg
import control_loop
import machine
import meters
import modbus
import rs485
from compat import const, ticks_diff, ticks_ms
from controller import GRID, LOAD, MODE_FAILSAFE, MODE_REGULATING, MODE_STARTING, NO_LIMIT, Controller
from fleet import CMD_ACKED, CMD_FAILED, CMD_IDLE, CMD_QUEUED, CMD_SENT, Fleet
from reading import Reading

BOARD_PATH = "/board.json"
_STALL_MS = const(5000)  # no Modbus transaction finished for this long: no progress
_MODE_NAMES = {MODE_STARTING: "starting (fail-safe)", MODE_FAILSAFE: "FAIL-SAFE", MODE_REGULATING: "regulating"}
_CMD_NAMES = {CMD_IDLE: "idle", CMD_QUEUED: "queued", CMD_SENT: "sent", CMD_ACKED: "acked", CMD_FAILED: "FAILED"}

_app = None


def load_board(path=BOARD_PATH):
    with open(path) as file:
        return json.load(file)


def _phase_limits(value):
    return None if value == NO_LIMIT else (value, value, value)


class App:
    """Every part of the running gateway, built once from a board and the configuration."""

    def __init__(self, board, settings, make_links=None, clock=ticks_ms):
        self.board = board
        self._clock = clock
        inverters = settings["inverters"]
        self.fleet = Fleet(len(inverters))
        for index, row in enumerate(inverters):
            self.fleet.add(index, rated_w=row["rated_w"], phase=row.get("phase", 1) - 1, inputs=row.get("inputs", 1))
        self.serials = [row["serial"] for row in inverters]
        self.reading = Reading()
        self.controller = Controller(
            self.fleet,
            export_limit_w=settings["export_limit_w"],
            phase_export_limit_w=_phase_limits(settings["phase_export_limit_w"]),
            meter_position=LOAD if settings["meter_position"] == "load" else GRID,
            failsafe_ms=settings["failsafe_ms"],
        )
        baud = settings["meter_baud"]
        self.bus = rs485.open_bus(board["meter_bus"], baud, settings["meter_parity"], settings["meter_stop_bits"])
        char_bits = 1 + 8 + (0 if settings["meter_parity"] == "N" else 1) + settings["meter_stop_bits"]
        period_ms = settings["control_period_ms"]
        # The answer is read at the tick after the request, one period later.
        self.master = modbus.Master(self.bus, baud, char_bits, timeout_ms=period_ms + 250)
        self.meter = meters.create(
            settings["meter_type"], self.master, settings["meter_address"], self.reading,
            period_ms=settings["meter_period_ms"],
        )
        # Inverter links stepped by the control loop (objects with step(now_ms)), and the
        # Hoymiles radio link, which has its own fast timer (hm_radio.RadioService).
        self.links = () if make_links is None else tuple(make_links(self.fleet, settings))
        self.radio = _radio_service(board, self.fleet, settings, clock)
        self.meter_status = meters.IDLE
        self._done = 0  # Modbus transactions finished (any outcome)
        self._done_ms = clock()
        self.loop = control_loop.ControlLoop(
            self.step, period_ms, settings["watchdog_ms"], on_stop=self._stopped_by_faults, clock=clock
        )
        self.safe_loop = None

    # The tick is split into small methods: MicroPython keeps a frame on the C
    # stack only while its locals and value stack fit 11 words, else every call
    # allocates it on the heap.

    def step(self, now_ms):
        """One tick: returns True when the bus made progress (the watchdog is fed only then)."""
        self._poll_meter(now_ms)
        self.controller.step(now_ms, self.reading)
        self._run_links(now_ms)
        return self._progress(now_ms)

    def _poll_meter(self, now_ms):
        status = self.meter.step(now_ms)
        if status != meters.IDLE and status != meters.BUSY and status != meters.WAIT_BUS:
            self.meter_status = status

    def _run_links(self, now_ms):
        links = self.links
        for index in range(len(links)):
            links[index].step(now_ms)

    def _progress(self, now_ms):
        master = self.master
        done = master.ok + master.timeout + master.crc + master.exception
        if done != self._done:
            self._done = done
            self._done_ms = now_ms
            return True
        return ticks_diff(now_ms, self._done_ms) < _STALL_MS

    def start(self):
        # Fail-safe limits go out before the first meter reading exists.
        self.controller.step(self._clock(), self.reading)
        self.loop.start()
        if self.radio is not None:
            self.radio.start()

    def apply(self, key, value):
        """cfg listener: the export limits act at the next tick; other keys after a restart."""
        if key in ("export_limit_w", "phase_export_limit_w"):
            values = cfg.values()
            self.controller.set_export_limit(values["export_limit_w"], _phase_limits(values["phase_export_limit_w"]))
        else:
            print("cfg: %s takes effect after cfg.save() and a reset" % key)

    def _stopped_by_faults(self):
        """The loop gave up: command the fail-safe limits and keep only the links running."""
        now_ms = self._clock()
        self.reading.valid = False
        for index in range(self.fleet.count):
            self.fleet.command(index, self.controller.failsafe_dw[index], now_ms)
        print("app: control loop stopped after repeated faults; fail-safe limits commanded")
        self.safe_loop = control_loop.ControlLoop(
            self._safe_step, self.loop.period_ms, control_loop.MAINTENANCE_WDT_MS, timer_id=self.loop.timer_id,
            clock=self._clock,
        )
        self.safe_loop.start()

    def _safe_step(self, now_ms):
        self._run_links(now_ms)
        return True

    def stop(self):
        self.loop.stop()
        if self.safe_loop is not None:
            self.safe_loop.stop()
        if self.radio is not None:
            self.radio.stop()

    def status(self):
        reading, controller, fleet, meter, loop = self.reading, self.controller, self.fleet, self.meter, self.loop
        now_ms = self._clock()
        state = "running" if loop.running else ("SAFE MODE" if self.safe_loop else "STOPPED")
        print("loop: %s, %d ticks, last %d us, max %d us, overruns %d, faults %d" % (
            state, loop.ticks, loop.tick_us, loop.max_tick_us, loop.overruns, loop.faults))
        age = ticks_diff(now_ms, reading.t_ms) if reading.seq else -1
        print("meter %s @%d: %s, power %s W (L1 %s, L2 %s, L3 %s), age %d ms, samples %d" % (
            meter.name, meter.address, "valid" if reading.valid else "NO VALID READING",
            _w(reading.power_dw), _w(reading.phase_power_dw[0]), _w(reading.phase_power_dw[1]),
            _w(reading.phase_power_dw[2]), age, reading.seq))
        print("  last status: %s; ok %d, timeout %d, crc %d, exception %d, invalid %d" % (
            meters.STATUS_NAMES.get(self.meter_status, self.meter_status), meter.ok, meter.timeout, meter.crc,
            meter.exception, meter.invalid))
        print("bus: frames %d, drained %d bytes, tx timeouts %d" % (
            self.bus.frames, self.bus.drained, self.bus.tx_timeouts))
        if self.radio is not None:
            print("radio: %s, %d steps, overruns %d" % (
                "running" if self.radio.running else "STOPPED", self.radio.ticks, self.radio.overruns))
        limit = controller.export_limit_dw
        print("control: %s; export limit %s W; PV %s W, load %s W, allowed %s W, limits total %s W, commands %d"
              % (_MODE_NAMES.get(controller.mode, controller.mode), "none" if limit < 0 else _w(limit),
                 _w(controller.pv_dw), _w(controller.load_dw), _w(controller.allowed_dw), _w(controller.limit_dw),
                 controller.commands))
        for index in range(fleet.count):
            seen = ticks_diff(now_ms, fleet.output_t_ms[index]) // 1000 if fleet.output_seq[index] else -1
            print("inverter %d %s L%d: limit %s W (%s), output %s W (%d s ago), rated %s W" % (
                index, self.serials[index], fleet.phase[index] + 1, _w(fleet.target_dw[index]),
                _CMD_NAMES.get(fleet.cmd_state[index], "?"), _w(fleet.output_dw[index]), seen,
                _w(fleet.rated_dw[index])))


def _w(power_dw):
    """Deci-watts as watts with one decimal, for people."""
    sign = "-" if power_dw < 0 else ""
    power_dw = abs(power_dw)
    return "%s%d.%d" % (sign, power_dw // 10, power_dw % 10)


def main(board_path=BOARD_PATH, config_path=cfg.PATH, make_links=None, clock=ticks_ms):
    """Start the gateway and return; the loop runs from a timer and the REPL stays free.

    `make_links(fleet, settings)` builds the inverter links (default: what the
    board carries); `clock` is ticks_ms, or simulated time on the host board.
    """
    global _app
    if _app is not None:
        _app.stop()
    cfg.load(config_path)
    board = load_board(board_path)
    app = App(board, cfg.values(), make_links or _board_links, clock)
    cfg.forget_listeners()
    cfg.on_change(app.apply)
    _app = app
    app.start()
    print("app: running on %s; status() shows the state, import cfg to configure" % board.get("name", "?"))
    return app


def _board_links(fleet, settings):
    """Links the control loop steps on a device board: none (the radio link runs on its own timer)."""
    return []


def _radio_service(board, fleet, settings, clock):
    """The Hoymiles link on the board's nRF24L01+, on its own timer; None without radio or inverters."""
    pins = board.get("radio")
    if not pins or not fleet.count:
        return None
    import hm_frames
    import hm_link
    import hm_radio
    import nrf24

    pin = machine.Pin
    spi = machine.SPI(pins["spi"], baudrate=8000000, sck=pin(pins["sck"]), mosi=pin(pins["mosi"]),
                      miso=pin(pins["miso"]))
    irq = None if pins.get("irq") is None else pin(pins["irq"], pin.IN)
    radio = nrf24.NRF24(spi, pin(pins["csn"], pin.OUT, value=1), pin(pins["ce"], pin.OUT, value=0), irq=irq)
    link = hm_link.HoymilesLink(fleet, radio, hm_frames.serial_bytes(_dtu_serial()), utc_s2000,
                                max_inverters=fleet.count)
    for row, inverter in enumerate(settings["inverters"]):
        link.add(row, hm_frames.serial_bytes(inverter["serial"]))
    return hm_radio.RadioService(link, clock=clock)


def _dtu_serial():
    """The serial this gateway uses on the air: "1999" and eight hex digits of the chip's id."""
    uid = machine.unique_id()
    return "1999%02x%02x%02x%02x" % (uid[-4], uid[-3], uid[-2], uid[-1])


_S_1970_TO_2000 = const(946684800)
_S2000_KNOWN = const(757382400)  # 2024-01-01: an RTC before that was never set
_EPOCH_1970 = time.gmtime(0)[0] == 1970


def utc_s2000():
    """UTC seconds since 2000-01-01, or -1 while the clock was never set (the radio link's clock).

    Nothing sets the RTC yet (NTP arrives with WiFi), so on a device this is -1
    and the link sends limits but no time-stamped data requests. On a port
    whose epoch is 1970, time.time() is a long int on the ESP32: one small
    allocation per time-stamped request.
    """
    now = int(time.time())
    if _EPOCH_1970:
        now -= _S_1970_TO_2000
    return now if now >= _S2000_KNOWN else -1


def status():
    if _app is None:
        print("app: not running (main.py did not start it, or it failed; see the boot messages)")
        return
    _app.status()


def stop():
    if _app is not None:
        _app.stop()
        print("app: stopped; the plant keeps its last limits; the watchdog resets the device in an hour")
