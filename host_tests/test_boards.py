"""Every board file is data the firmware and tools/deploy.py can use, and its pins make electrical sense."""

import json
from pathlib import Path

import machine
import pytest
import rs485

BOARDS = sorted((Path(__file__).resolve().parent.parent / "boards").glob("*.json"))
INPUT_ONLY = {"esp32": range(34, 40)}  # GPIO 34..39 have no output driver
FLASH_PINS = {"esp32": range(6, 12), "esp32s3": range(26, 33)}
OUTPUTS = ("tx", "de")
RADIO_OUTPUTS = ("sck", "mosi", "csn", "ce")
CMT_OUTPUTS = ("sclk", "sdio", "csb", "fcsb")  # SDIO is also read: it needs an output driver


def _pins(board):
    bus = board["meter_bus"]
    pins = [bus["tx"], bus["rx"]] + ([bus["de"]] if bus["de"] is not None else [])
    pins += [pin for pin, _ in bus.get("enable_pins", [])]
    if board["radio"]:
        pins += [board["radio"][key] for key in ("sck", "mosi", "miso", "csn", "ce", "irq")]
    if board["cmt"]:
        pins += [board["cmt"][key] for key in CMT_OUTPUTS + ("gpio3",) if board["cmt"][key] is not None]
    if board["status_led"]:
        pins.append(board["status_led"]["pin"])
    return pins


def test_the_four_issue_boards_and_the_host_board_exist():
    names = {path.stem for path in BOARDS}
    assert {"esp32-devkitc-max3485", "esp32-devkitc-autodir", "lilygo-t-can485", "esp32-s3-devkitc", "host"} <= names


@pytest.mark.parametrize("path", BOARDS, ids=[path.stem for path in BOARDS])
def test_board_file(path):
    board = json.loads(path.read_text())
    assert set(board) == {"name", "psram", "chip", "meter_bus", "radio", "cmt", "status_led"}
    assert board["psram"] in (True, False), "psram: whether the board has PSRAM (tools/deploy.py reads it)"
    bus = board["meter_bus"]
    assert bus["uart"] in (1, 2), "UART0 is the REPL that mpremote uses"
    pins = _pins(board)
    assert len(pins) == len(set(pins)), "a pin is used twice"
    chip = board["chip"]
    if chip == "unix":
        return
    outputs = [bus[key] for key in OUTPUTS if bus.get(key) is not None]
    outputs += [pin for pin, _ in bus.get("enable_pins", [])]
    if board["radio"]:
        outputs += [board["radio"][key] for key in RADIO_OUTPUTS]
    if board["cmt"]:
        outputs += [board["cmt"][key] for key in CMT_OUTPUTS]
    assert not set(outputs) & set(INPUT_ONLY.get(chip, ())), "an output on an input-only GPIO"
    assert not set(pins) & set(FLASH_PINS[chip]), "a pin of the SPI flash"
    assert board["status_led"]["kind"] in ("gpio", "ws2812")


@pytest.mark.parametrize("path", BOARDS, ids=[path.stem for path in BOARDS])
def test_the_meter_bus_opens_and_holds_the_enable_pins(path):
    board = json.loads(path.read_text())
    machine.reset_hardware()
    bus = rs485.open_bus(board["meter_bus"], 9600, "N", 1)
    assert bus.char_us == 1041
    for pin, level in board["meter_bus"].get("enable_pins", []):
        assert machine.pin_state(pin).value == level
    if board["meter_bus"]["de"] is not None:
        assert machine.pin_state(board["meter_bus"]["de"]).value == 0  # receiving until we send
