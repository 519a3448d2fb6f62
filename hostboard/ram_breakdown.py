"""What each firmware module costs the heap on import: the process `tools/ram.py --breakdown` starts.

    micropython -X heapsize=N -m ram_breakdown MODULE...

Imports the harness's modules first (the fake `machine`, the WiFi stand-ins, the fake nRF24 chip: what the
firmware imports from the harness) and prints micropython.qstr_info()'s line, then imports each MODULE in the
order given, and prints two lines per module:

    @import NAME HEAP OTHERS
    qstr pool: n_pool=.., n_qstr=.., n_str_data_bytes=.., n_total_bytes=..   (micropython.qstr_info())

HEAP: bytes of live heap the import added (after gc.collect); OTHERS: modules the import loaded besides NAME
(their cost is NAME's). tools/ram.py takes the interned strings a module added from the qstr lines, and the
pools that grew meanwhile off HEAP (a pool is allocated whole when the one before is full: where one grows
depends on the import order, not on the module). With .mpy files HEAP is then bytecode, constants and the
module's objects (functions, classes, tables); frozen, only the objects.
"""

import gc
import sys

import micropython


def main():
    import machine  # noqa: F401 - the harness: present before the firmware, as on the device
    import network  # noqa: F401
    import nrf24_chip  # noqa: F401
    import ntptime  # noqa: F401

    gc.collect()
    micropython.qstr_info()  # where the strings start
    for name in sys.argv[1:]:
        before = set(sys.modules)
        gc.collect()
        heap = gc.mem_alloc()
        __import__(name)
        gc.collect()
        heap = gc.mem_alloc() - heap
        print("@import", name, heap, " ".join(other for other in sys.modules if other not in before and other != name))
        micropython.qstr_info()


main()
