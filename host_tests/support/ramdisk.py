"""A flash chip in RAM for LittleFS tests on the unix port, with power cuts.

`RamFlash` implements MicroPython's extended block-device protocol
(readblocks/writeblocks with an offset, ioctl erase), which `os.VfsLfs2` uses
the way it uses the ESP32's flash partition. Programming can only clear bits
(erased flash reads 0xFF), as on NOR flash, so a file system that writes
without erasing first would corrupt itself here as on the chip.

Power cuts: `cut_after(n)` lets n more program/erase operations through; the
next one raises `PowerCut` before touching the flash, which stops the code
under test mid-save exactly where a real cut would. `reboot()` returns a new
device holding the bytes as they were at that moment, to mount and inspect.
"""


class PowerCut(Exception):
    pass


_IOCTL_INIT = 1
_IOCTL_DEINIT = 2
_IOCTL_SYNC = 3
_IOCTL_BLOCK_COUNT = 4
_IOCTL_BLOCK_SIZE = 5
_IOCTL_ERASE = 6


class RamFlash:
    def __init__(self, block_size=512, block_count=64, data=None):
        self.block_size = block_size
        self.block_count = block_count
        self.data = bytearray(data) if data is not None else bytearray(b"\xff" * (block_size * block_count))
        self.operations = 0
        self.budget = -1  # operations left before the cut; -1 = no cut planned

    def cut_after(self, operations):
        self.budget = operations

    def _spend(self):
        if self.budget == 0:
            raise PowerCut()
        if self.budget > 0:
            self.budget -= 1
        self.operations += 1

    def readblocks(self, block, buf, offset=0):
        start = block * self.block_size + offset
        buf[:] = self.data[start : start + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        if offset is None:  # simple protocol: whole blocks, erase implied
            for index in range(len(buf) // self.block_size):
                self.ioctl(_IOCTL_ERASE, block + index)
            offset = 0
        self._spend()
        start = block * self.block_size + offset
        for index in range(len(buf)):
            self.data[start + index] &= buf[index]  # programming only clears bits

    def ioctl(self, op, arg):
        if op == _IOCTL_BLOCK_COUNT:
            return self.block_count
        if op == _IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == _IOCTL_ERASE:
            self._spend()
            start = arg * self.block_size
            for index in range(start, start + self.block_size):
                self.data[index] = 0xFF
            return 0
        if op in (_IOCTL_INIT, _IOCTL_DEINIT, _IOCTL_SYNC):
            return 0
        return None

    def reboot(self):
        """A fresh device with the flash contents as they are now (after a cut, as the cut left them)."""
        return RamFlash(self.block_size, self.block_count, self.data)


def mount(flash, path, format_first=False):
    """Mount `flash` as LittleFS at `path` (MicroPython only), replacing whatever was mounted there."""
    import os

    if format_first:
        os.VfsLfs2.mkfs(flash)
    try:
        os.umount(path)
    except OSError:
        pass
    os.mount(os.VfsLfs2(flash), path)


def unmount(path):
    import os

    os.umount(path)
