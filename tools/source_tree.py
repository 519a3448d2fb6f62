"""Where the device's source lives, for every tool and test that runs it.

`lib/` is one folder per layer, in the order data flows (meter → control → inverter links → status → network);
`common` is what every layer uses. A module imports another by its bare name, so each layer folder goes on the
search path, and `make firmware` flattens them all into the device's `/lib` (a package costs about 380 bytes
of heap per import on the device). Module names are therefore unique across the folders.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIB_LAYERS = ("common", "meter", "control", "hoymiles", "sunspec", "status", "net")
LIB_DIRS = tuple(ROOT / "lib" / layer for layer in LIB_LAYERS)
FIRMWARE_DIR = ROOT / "firmware"
DEVICE_DIRS = LIB_DIRS + (FIRMWARE_DIR,)


def search_path(*extra):
    """A MICROPYPATH value: the extra folders (relative to the repository) first, then lib/ and firmware/."""
    return ":".join([str(ROOT / part) for part in extra] + [str(path) for path in DEVICE_DIRS])


def import_lib():
    """Let a CPython tool import lib/'s modules by their bare names, as the device does."""
    import sys

    for path in reversed(LIB_DIRS):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
