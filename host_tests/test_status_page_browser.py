"""The status and settings pages in a real browser: headless Chromium from Debian.

The real HTTP server (lib/net/http_status.py on the MicroPython unix port, serving
host_tests/support/http_fixture_server.py as in test_http_status.py) serves a plant held in fail-safe by a
lockout after a trip, exporting 568 W against a 0 W limit, with three inverters. Chromium loads a page and
runs its scripts in virtual time (two minutes: 40 polls of /api/status in about a second), then
- the DOM after the scripts ran must show the mode, the fail-safe reason, the lockout with its time left and
  how to clear it, the alarm banner, one row per inverter and the counters (the settings page: one row per key);
- the console must show no script error;
- the screenshots at 1200 and 360 px go to build/ (status-1200.png, status-360.png, settings-360.png): PNGs of
  that width, the status page's with the chart's PV line drawn.

Without Chromium the test skips (apt-get install chromium-headless-shell), except in CI (CI=true), where
.ci/run installs it and a missing browser is a failure.
"""

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_http_status import TOKEN, Server

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
BROWSERS = ("chromium-headless-shell", "chromium")
BUDGET_MS = 120000  # virtual time: 40 polls, 2 of the chart's 7.5 minutes
PV_RGB = (0x1E, 0x84, 0x49)  # the chart's PV line (status_page.py)
VOID = ("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr")


def chromium():
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI") == "true":
        pytest.fail("CI needs headless Chromium to test the pages: .ci/run installs chromium-headless-shell")
    pytest.skip("no headless Chromium: apt-get install chromium-headless-shell (Debian) to test the pages")


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    running = Server("micropython", writes=True, log=tmp_path_factory.mktemp("page") / "changes.log",
                     scenario="lockout")
    yield running
    running.stop()


def browse(tmp_path, url, *options):
    """Chromium's output for `url` after BUDGET_MS of virtual time; fails on a script error."""
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--user-data-dir=%s" % (tmp_path / "profile"), "--enable-logging=stderr", "--v=0",
               "--virtual-time-budget=%d" % BUDGET_MS, *options, url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert not [line for line in console if "Uncaught" in line or "rror" in line], console
    return done.stdout


class Dom(HTMLParser):
    """The text and attributes of each element with an id, and the rows of each table body."""

    def __init__(self, html):
        super().__init__()
        self.open = []  # (tag, id or None) of the open elements
        self.text = {}
        self.attrs = {}
        self.rows = {}
        self.feed(html)

    def ids(self):
        return [name for _, name in self.open if name]

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("id")
        if tag == "tr" and any(open_tag == "tbody" for open_tag, _ in self.open):
            for table in self.ids():
                self.rows[table] = self.rows.get(table, 0) + 1
        if name:
            self.attrs[name] = attrs
            self.text.setdefault(name, "")
        if tag not in VOID:
            self.open.append((tag, name))

    def handle_endtag(self, tag):
        while self.open:
            if self.open.pop()[0] == tag:
                break

    def handle_data(self, data):
        for name in self.ids():
            self.text[name] += data


def png_width(path):
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return int.from_bytes(header[16:20], "big")


def longest_run(path, rgb, tolerance=40):
    """The longest horizontal run of pixels near `rgb` in the PNG at `path`."""
    from PIL import Image  # matplotlib's dependency (requirements-dev.txt)

    image = Image.open(path).convert("RGB")
    width, height = image.size
    pixels = image.load()
    best = 0
    for y in range(height):
        run = 0
        for x in range(width):
            red, green, blue = pixels[x, y]
            near = abs(red - rgb[0]) + abs(green - rgb[1]) + abs(blue - rgb[2]) <= tolerance
            run = run + 1 if near else 0
            best = max(best, run)
    return best


def test_status_page_shows_why_the_plant_is_held_and_every_inverter(plant, tmp_path):
    dom = Dom(browse(tmp_path, "http://127.0.0.1:%d/" % plant.port, "--dump-dom"))
    text = dom.text
    assert text["mode"] == "failsafe" and text["sup"] == "lockout" and "hidden" not in dom.attrs["sup"]
    why = text["why"]
    assert "Fail-safe limits: supervisor trip (lockout)." in why
    assert "too many stage-2 events" in why and "3 h 59 min left" in why and "app.reset_supervisor()" in why
    assert "display: block" in dom.attrs["alarm"]["style"]
    assert text["alarm"] == "Export 568 W is above the limit of 0 W"
    assert dom.rows["inv"] == 3
    assert "4 missed in a row" in text["inv"] and "failed" in text["inv"] and "never" in text["inv"]
    assert re.search(r"1\d min \d+ s ago", text["inv"])  # inverter 1 was last heard 754 s before the server started
    assert "trips1" in text["sv"].replace(" ", "") and "excursions3" in text["sv"].replace(" ", "")
    assert "-568 W" in text["now"] and "470 W" in text["now"]
    assert "good reads1000" in text["meter"] and dom.rows["ph"] == 3 and "230.1 V" in text["ph"]
    assert "123.5 kWh" in text["energy"] and "999.0 kWh" in text["energy"]
    assert text["err"] == ""


@pytest.mark.parametrize("width, height", [(1200, 1400), (360, 2300)])
def test_status_page_screenshots(plant, tmp_path, width, height):
    BUILD.mkdir(exist_ok=True)
    path = BUILD / ("status-%d.png" % width)
    path.unlink(missing_ok=True)
    browse(tmp_path, "http://127.0.0.1:%d/" % plant.port, "--window-size=%d,%d" % (width, height),
           "--screenshot=%s" % path)
    assert png_width(path) == width
    # Two of the 7.5 minutes drawn: the PV line spans about a quarter of the plot.
    assert longest_run(path, PV_RGB) > width // 6, "no PV line in the chart"


def test_settings_page_lists_every_key_in_a_browser(plant, tmp_path):
    code, _, body = plant.request("GET", "/api/settings", headers={"Authorization": "Bearer " + TOKEN})
    assert code == 200
    keys = [row[0] for row in json.loads(body)]
    BUILD.mkdir(exist_ok=True)
    path = BUILD / "settings-360.png"
    url = "http://127.0.0.1:%d/settings#token=%s" % (plant.port, TOKEN)
    dom = Dom(browse(tmp_path, url, "--dump-dom"))
    assert dom.text["msg"] == ""
    inputs = [name for name in dom.attrs if name[0] == "v" and name[1:].isdigit()]  # one per key: v<row>
    assert len(inputs) == len(keys) > 40
    rows = dom.text["rows"]
    assert [key for key in keys if key not in rows] == []
    assert "dtsu666" in dom.text["v%d" % keys.index("meter_type")]  # a choice lists its choices
    assert dom.attrs["v%d" % keys.index("http_token")]["type"] == "password"
    browse(tmp_path, url, "--window-size=360,1600", "--screenshot=%s" % path)
    assert png_width(path) == 360
