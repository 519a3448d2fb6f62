"""Keeps one JSON document on the device's file system, safe against power loss.

`save()` writes the whole document to `<path>.tmp`, closes it (LittleFS makes
file data durable at close) and renames it over `<path>`. LittleFS commits a
rename atomically, so after a power cut at any moment the file holds either
the old or the new document, never a mix and never nothing. A stray
`.tmp` left by a cut is ignored and overwritten by the next save.

`load()` never raises for a missing or unreadable file: it returns None and
says why in `problem`, so the caller can fall back to defaults and show the
warning. Runs at boot and from the REPL only; it allocates freely.
"""

import json
import os

from compat import build


class ConfigStore:
    def __init__(self, path):
        self.path = path
        self.tmp_path = path + ".tmp"
        self.problem = None  # why the last load() found nothing usable
        self.missing = False  # the last load() found no file at all (a first boot), rather than a bad one

    def load(self):
        """The saved dict, or None (missing, unreadable or not a JSON object; see `problem`). At boot and at the
        REPL only: the code is in app_init.py."""
        return build("app_init", "cfgstore", self, (), {})  # boot only: app_init.py

    def save(self, values):
        text = json.dumps(values)
        with open(self.tmp_path, "w") as file:
            file.write(text)
        try:
            os.rename(self.tmp_path, self.path)
        except OSError:
            # FAT (not LittleFS) refuses to rename onto an existing file. FAT is not
            # power-loss safe anyway; this keeps it working at all.
            os.remove(self.path)
            os.rename(self.tmp_path, self.path)
