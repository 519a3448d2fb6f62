"""Every setting the user docs name exists in `cfg`, and the docs cite only files that are in the repository.

A name counts as a setting where the docs use it as one:
- the key of a `cfg.set(...)` or `cfg.get(...)` call (in code blocks and inline code);
- the first column of a table whose header starts with "key" or "setting" and has a "default" column (several
  names may share a row);
- backticked names right after the word "set" or "setting(s)", as in "set `invert`" or "set `ct_ratio` /
  `vt_ratio`" (a list joined by commas, "/", "and" or "or").
Other tables (the controller's constructor "keyword"s, a scenario's keys, metric definitions) are not settings.
"""

import re
from pathlib import Path

import cfg_schema
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_CALL = re.compile(r"""cfg\.(?:set|get)\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")
_NAME = r"`([a-z_][a-z0-9_]*)`"
_AFTER_SET = re.compile(r"\b(?:set|setting|settings)\s+" + _NAME + r"((?:\s*(?:,|/|and|or)\s*" + _NAME + r")*)",
                        re.IGNORECASE)
_TICKED = re.compile(_NAME)
_SETTINGS_HEADERS = ("key", "setting")
# A path to a file of the repository, as docs cite them: `tools/sim.py`, docs/METERS.md, boards/host.json.
_PATH = re.compile(r"(?<![\w./-])((?:[\w.-]+/)+[\w.-]+\.(?:md|py|json|csv|sh|txt|toml))\b")


def setting_names(text):
    """{name: line number} of every name `text` (Markdown) uses as a setting, by the rules above."""
    found = {}
    in_table = False
    for number, line in enumerate(text.splitlines(), 1):
        for name in _CALL.findall(line):
            found.setdefault(name, number)
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else []
        if not cells:
            in_table = False
        elif not in_table:
            in_table = True
            settings_table = cells[0].lower() in _SETTINGS_HEADERS and "default" in cells
        elif settings_table and not set(cells[0]) <= set("-: "):
            for name in _TICKED.findall(cells[0]):
                found.setdefault(name, number)
        for match in _AFTER_SET.finditer(line):
            for name in [match.group(1)] + _TICKED.findall(match.group(2)):
                found.setdefault(name, number)
    return found


def test_the_rules_catch_a_missing_key():
    text = "\n".join([
        "Swap the CT or set `invert`. To override it, set `ct_ratio` / `vt_ratio`.",
        '```python\ncfg.set("ct_ratio", 20)\nvalue = cfg.get(\'meter_baud\')\n```',
        "| setting | meaning | default |\n|---|---|---|\n| `meter_type`, `meter_address` | the meter | 1 |\n",
        "| keyword | default |\n|---|---|\n| `margin_w` | 15 |\n| key | unit |\n|---|---|\n| `step_s` | s |\n",
        "it never sets `can_switch_off`; the `power_w` field",
    ])
    assert setting_names(text) == {"invert": 1, "ct_ratio": 1, "vt_ratio": 1, "meter_baud": 4, "meter_type": 8,
                                   "meter_address": 8}


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_setting_the_docs_name_exists(doc):
    missing = {name: line for name, line in setting_names(doc.read_text()).items() if name not in cfg_schema.SCHEMA}
    assert not missing, "%s names settings cfg does not have (name: line): %s" % (doc.name, missing)


def test_the_meter_docs_name_the_settings_the_meter_driver_takes():
    names = setting_names((ROOT / "docs" / "METERS.md").read_text())
    assert {"invert", "ct_ratio", "vt_ratio", "meter_type", "meter_baud"} <= set(names)


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_the_docs_cite_only_files_in_the_repository(doc):
    cited = {path.rstrip(".") for path in _PATH.findall(doc.read_text())}
    absent = sorted(path for path in cited if not (ROOT / path).exists() and not (doc.parent / path).exists()
                    and not path.startswith(("build/", "/", "path/")))
    assert not absent, "%s cites files that are not in the repository: %s" % (doc.name, absent)
