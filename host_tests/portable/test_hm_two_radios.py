"""The firmware (App, its timers, wiring.py's radio links) drives an HM inverter on the nRF24 and an HMS on
the CMT2300A at the same time, end to end through the board's pins, on simulated time."""

import app
import cfg
import cmt2300a_chip
import machine
import nrf24_chip
import report
from compat import ticks_diff
from fleet import CMD_ACKED
from test_app_loop import chip_with_meter

BOARD = {"name": "test board", "meter_bus": {"uart": 2, "tx": 17, "rx": 16, "de": 4}}
RADIO = {"spi": 1, "sck": 18, "mosi": 23, "miso": 19, "csn": 5, "ce": 22, "irq": 21}
CMT = {"sclk": 14, "sdio": 13, "csb": 27, "fcsb": 26, "gpio3": 34}
HM = "114172818832"
HMS = "114412345678"


def _let_scheduled_run():
    for _ in range(3):  # MicroPython runs a scheduled function at a backwards jump
        pass


def test_the_firmware_drives_an_hm_and_an_hms_inverter_at_once():
    clock, meter = chip_with_meter(start_ms=1000)
    air_clock = nrf24_chip.Clock(1000)
    nrf_air = nrf24_chip.Air(air_clock, seed=5)
    hm = nrf24_chip.HmInverter(HM)
    nrf_air.add(hm)
    nrf24_chip.Chip(nrf_air).wire(machine, RADIO)
    cmt_air = cmt2300a_chip.Air(air_clock, seed=3)
    hms = cmt2300a_chip.HmsInverter(HMS, available_w=500)
    cmt_air.add(hms)
    cmt = cmt2300a_chip.Chip(cmt_air)
    cmt.wire(machine, CMT)
    settings = cfg.defaults()
    settings["http_enabled"] = False
    settings["inverters"] = [
        {"serial": HM, "rated_w": 800, "phase": 1, "inputs": 2},
        {"serial": HMS, "rated_w": 800, "phase": 1, "inputs": 2},
    ]
    gateway = app.App(dict(BOARD, radio=RADIO, cmt=CMT), settings, clock=clock.ticks_ms)
    try:
        gateway.start()
        end = clock.ticks_ms() + 8000
        while ticks_diff(machine.next_due_ms(), end) <= 0:
            due = machine.next_due_ms()
            clock.advance_to_ms(due)
            air_clock.now_ms = due
            machine.run_timers(due)
            _let_scheduled_run()
            meter.serve()
        fleet = gateway.fleet
        assert fleet.cmd_state[0] == CMD_ACKED and fleet.cmd_state[1] == CMD_ACKED
        for row, inverter in ((0, hm), (1, hms)):
            assert fleet.target_dw[row] == gateway.controller.failsafe_dw[row]
            if fleet.target_dw[row] == 0:
                assert not inverter.on
            else:
                assert inverter.on and inverter.limit_dw == fleet.target_dw[row]
        assert hms.channel_changes and hms.frequency_khz == 865000 and cmt.contention == 0
        assert fleet.output_seq[0] >= 1 and fleet.output_seq[1] >= 1  # both answer polls
        assert "CMT2300A eu 865 MHz, airtime 0." in report.radio_text(gateway.radio, gateway.clock_ms())
    finally:
        gateway.stop()
        machine.use_clock(None)


def test_a_frequency_outside_the_region_stops_the_start_with_the_legal_range():
    machine.reset_hardware()
    cmt = cmt2300a_chip.Chip(cmt2300a_chip.Air(nrf24_chip.Clock()))
    cmt.wire(machine, CMT)
    machine.UART.wire(2, machine.Line(), de=4)
    settings = cfg.defaults()
    settings["http_enabled"] = False
    settings["inverters"] = [{"serial": HMS, "rated_w": 800}]
    settings["cmt_frequency_mhz"] = 915
    try:
        app.App(dict(BOARD, cmt=CMT), settings)
    except ValueError as error:
        assert "863..870" in str(error)
    else:
        raise AssertionError("a frequency outside 863..870 MHz was taken in the EU")
    settings["cmt_region"] = "us"
    gateway = app.App(dict(BOARD, cmt=CMT), settings)
    assert gateway.radio.second.band.channel == 60 and cmt.frequency_khz() == 915000
