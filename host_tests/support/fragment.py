"""A fragmented MicroPython heap for tests: plenty of free memory, but no block larger than a hole.

    filler = fragment(256)      # no free region holds 2 x 256 bytes now
    ...                         # the code under test must do with small blocks
    filler = None               # the heap is whole again (after the next collection)

The heap is filled with blocks of `hole_bytes` (tuples: one allocation
each, the items inline; a bytearray would be two), which are then sorted by
address and every other one freed: two freed blocks are never neighbours,
so a free region is at most one hole plus a sliver that was too small to
fill. MicroPython only (it relies on `id()` being the address).
"""

import gc
import sys

_WORD_BYTES = 8 if sys.maxsize > 2**32 else 4


def _address(block):
    return id(block) >> 4  # a small int on a 32-bit build too


def fragment(hole_bytes):
    gc.collect()
    blocks = [None] * ((gc.mem_free() + gc.mem_alloc()) // hole_bytes + 1)
    key = _address
    one = (None,)
    words = hole_bytes // _WORD_BYTES - 2  # a tuple's header is two words
    count = 0
    try:
        while count < len(blocks):
            blocks[count] = one * words
            count += 1
    except MemoryError:
        pass
    blocks.sort(key=key)  # the unfilled Nones sort together; in place, no allocation
    for index in range(0, len(blocks), 2):
        blocks[index] = None
    gc.collect()
    # The collector scans the C stack conservatively: garbage it kept so far can come free now.
    # Plug every region that still holds two holes; the failed attempt that ends this ran a full
    # collection, so at return no block of 2 x hole_bytes can be had.
    plugs = []
    try:
        while True:
            plugs.append(bytearray(2 * hole_bytes))
    except MemoryError:
        pass
    return blocks, plugs
