"""`make repl` as a person uses it: typed into its terminal (a pseudo-terminal here), read back from the screen."""

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from meter_emulator import EmulatedMeter, MeterBus

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "repl.py"
PROMPT = ">>> "
VALID = r"meter dtsu666 @1: valid"


class Terminal:
    """tools/repl.py on a pseudo-terminal: type() a line, read up to the next prompt."""

    def __init__(self, *args):
        self.fd, slave = pty.openpty()
        self.process = subprocess.Popen([sys.executable, str(TOOL), *args], stdin=slave, stdout=slave, stderr=slave,
                                        cwd=ROOT, start_new_session=True)
        os.close(slave)
        self.screen = ""

    def read_until(self, text, timeout_s=30.0):
        deadline = time.monotonic() + timeout_s
        while text not in self.screen:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError("no %r within %.0f s; the screen:\n%s" % (text, timeout_s, self.screen))
            try:
                self.screen += os.read(self.fd, 4096).decode(errors="replace")
            except OSError:  # the process has ended
                raise AssertionError("ended before %r; the screen:\n%s" % (text, self.screen)) from None
        shown, _, self.screen = self.screen.partition(text)
        return shown

    def type(self, line):
        """What the firmware printed for `line` (the echo of the line itself removed)."""
        os.write(self.fd, line.encode() + b"\r")
        return self.read_until(PROMPT).replace("\r", "").split("\n", 1)[1]

    def status_when(self, pattern, timeout_s=20.0):
        """app.status(), asked once a second until it matches `pattern` (the first meter sample takes a few s)."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.type("app.status()")
            if re.search(pattern, status) or time.monotonic() > deadline:
                return status
            time.sleep(1)

    def close(self):
        os.write(self.fd, b"\x04")  # Ctrl-D
        status = self.process.wait(30)
        os.close(self.fd)
        return status


def test_the_firmware_runs_with_its_repl_and_its_files_in_the_host_folder(tmp_path):
    hostfs = tmp_path / "hostfs"
    terminal = Terminal("--hostfs", str(hostfs))
    try:
        boot = terminal.read_until(PROMPT)
        assert "app: running on host" in boot and "3 simulated inverters" in boot
        # The firmware runs while the prompt waits: meter samples, inverter commands.
        status = terminal.status_when(r"meter dtsu666 @1: valid.*\n(.*\n)*inverter 0 .*\((sent|acked)\)")
        assert re.search(r"loop: running, (\d+) ticks", status), status
        assert int(re.search(r"loop: running, (\d+) ticks", status).group(1)) >= 10  # 250 ms ticks in real time
        assert re.search(VALID + r", power -?\d", status), status
        inverter = r"inverter 0 114100000001 L1: limit [\d.]+ W \((queued|sent|acked)\), output [\d.]+ W"
        assert re.search(inverter, status), status
        assert terminal.type('cfg.set("export_limit_w", 500)') is not None
        assert "ValueError: unknown key 'export_limt_w'" in terminal.type('cfg.set("export_limt_w", 5)')
        assert terminal.type('cfg.set("ct_ratio", 20)') is not None
        saved = terminal.type("cfg.save()")
        assert "cfg: saved to %s/config.json" % hostfs in saved
        assert terminal.type("app._app.meter.ct_ratio, app._app.controller.export_limit_dw").strip() == "(1, 5000)"
        assert terminal.type("for i in range(2):\n    i\n") == "...     i\n... \n0\n1\n"  # a block, as typed
        terminal.type("machine.reset()")  # a reset: the saved ct_ratio is in force now
        assert terminal.type("app._app.meter.ct_override").strip() == "20"
    finally:
        assert terminal.close() == 0
    config = json.loads((hostfs / "config.json").read_text())
    assert config["export_limit_w"] == 500 and config["ct_ratio"] == 20
    assert sorted(path.name for path in hostfs.iterdir()) >= ["board.json", "config.json"]
    assert (hostfs / "events.log").exists() or (hostfs / "energy.json").exists()


def _power_w(status):
    return float(re.search(VALID + r", power (-?[\d.]+) W", status).group(1))


def test_repl_with_a_meter_on_a_serial_port_commissioned_through_the_settings(tmp_path):
    """A meter with its CTs reversed and its CT ratio unset: 1.5 kW export reads as 75 W import, until fixed."""
    meter = EmulatedMeter("dtsu666")
    meter.set(power_w=75.0, current_a=[0.33] * 3)
    with MeterBus(meter) as bus:
        terminal = Terminal("--port", bus.port, "--hostfs", str(tmp_path / "hostfs"))
        try:
            assert "its meter on %s" % bus.port in terminal.read_until(PROMPT)
            assert _power_w(terminal.status_when(VALID)) == 75.0
            for line in ('cfg.set("invert", True)', 'cfg.set("ct_ratio", 20)', "cfg.save()", "machine.reset()"):
                terminal.type(line)
            assert _power_w(terminal.status_when(VALID)) == -1500.0
        finally:
            assert terminal.close() == 0
    config = json.loads((tmp_path / "hostfs" / "config.json").read_text())
    assert (config["http_enabled"], config["invert"], config["ct_ratio"]) == (False, True, 20)


def test_the_emulated_meter_can_be_installed_the_wrong_way_to_practise_commissioning(tmp_path):
    terminal = Terminal("--hostfs", str(tmp_path / "hostfs"), "--meter-reversed", "--meter-unset-ct", "20")
    try:
        terminal.read_until(PROMPT)
        assert 0 < _power_w(terminal.status_when(VALID)) < 150  # the plant exports about 1.5 kW
    finally:
        assert terminal.close() == 0


def test_a_new_installer_commissions_a_wrong_way_meter_and_adds_inverters_without_a_reset(tmp_path):
    """The issue's "done when", typed at `make repl` in real time with the trip time cut to 3 s: a meter
    with its CTs turned round and no inverters configured; commissioning; the inverters added without a
    reset; the sign fixed through the settings (a reset, which commissioning survives); no lockout; a log
    in words."""
    hostfs = tmp_path / "hostfs"
    terminal = Terminal("--hostfs", str(hostfs), "--meter-reversed", "--no-inverters")
    try:
        boot = terminal.read_until(PROMPT)
        add_inverters = re.search(r'cfg\.set\("inverters", .*\)', boot).group(0)
        for line in ('cfg.set("excursion_trip_s", 3)', 'cfg.set("excursion_stage2_s", 2)', "cfg.save()"):
            assert "after cfg.save() and a reset" in terminal.type(line) or line == "cfg.save()"
        terminal.type("machine.reset()")  # read up to the restarted firmware's prompt
        assert "commissioning for 30 min" in terminal.type("app.commission(30)")
        added = terminal.type(add_inverters)
        assert "cfg: inverters 0 -> 3 (+114100000001, +114100000002, +114100000003); live at the next" in added
        # The inverters are commanded at once; their fail-safe limits make the plant import, which the
        # reversed meter shows as export: an excursion far longer than the 3 s trip time.
        status = terminal.status_when(r"inverter 2 114100000003 .*\((sent|acked)\)(.*\n)*.*excursions [1-9]")
        assert re.search(r"mode: .*COMMISSIONING, (29|30) min", status), status
        assert "LOCKOUT" not in status and "trips 0" in status
        time.sleep(4)
        log = terminal.type("app.log()")
        assert "configuration: inverters 0 -> 3" in log
        assert "commissioning for 30 min: excursions are recorded but do not trip" in log
        assert "trip withheld (commissioning): excursion too long; no lockout" in log, log
        # The sign fixed through the settings: it acts after a reset, and commissioning goes on after it.
        assert "takes effect after cfg.save() and a reset" in terminal.type('cfg.set("invert", True)')
        terminal.type("cfg.save()")
        terminal.type("machine.reset()")  # read up to the restarted firmware's prompt
        status = terminal.status_when(r"inverter 0 .*\((sent|acked)\)")
        assert re.search(r"mode: .*COMMISSIONING, (2\d|30) min", status) and "LOCKOUT" not in status, status
        assert "trips 0" in status
        log = terminal.type("app.log()")
        assert "configuration: invert False -> True" in log and "trip:" not in log
    finally:
        assert terminal.close() == 0
