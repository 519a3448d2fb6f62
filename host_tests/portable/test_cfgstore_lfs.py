"""The config store on LittleFS survives a power cut at every step of a save.

A RAM block device (the VfsLfs2 block protocol: readblocks/writeblocks/ioctl)
holds a real LittleFS image on the unix port. A cut after k block writes or
erases stops the k-th one half-way (a torn program) and every one after it;
the image as the flash would have it is then mounted afresh and the store
must read the old or the new configuration, never neither.
"""

import os

from cfgstore import ConfigStore
from testkit import Skip, micropython_only

BLOCK_SIZE = 512
BLOCKS = 32
MOUNT = "/lfs_cfg_test"

OLD = {"export_limit_w": 0, "meter_address": 1, "note": "old" * 20}
NEW = {"export_limit_w": 600, "meter_address": 7, "note": "new" * 90}


class PowerCut(OSError):
    pass


class RamFlash:
    """A NOR-like flash in RAM that loses power after `budget` writes or erases (None: never)."""

    def __init__(self, image=None):
        self.data = bytearray(image) if image is not None else bytearray(b"\xff" * (BLOCK_SIZE * BLOCKS))
        self.budget = None
        self.operations = 0

    def _spend(self):
        if self.budget is not None and self.operations >= self.budget:
            raise PowerCut(5)  # EIO: the power is gone
        self.operations += 1

    def readblocks(self, block, buf, offset=0):
        start = block * BLOCK_SIZE + offset
        for i in range(len(buf)):
            buf[i] = self.data[start + i]

    def writeblocks(self, block, buf, offset=None):
        start = block * BLOCK_SIZE + (offset or 0)
        if self.budget is not None and self.operations == self.budget:
            for i in range(len(buf) // 2):  # the cut tears this program half-way
                self.data[start + i] &= buf[i]
        self._spend()
        for i in range(len(buf)):
            self.data[start + i] &= buf[i]  # NOR flash: programming only clears bits

    def ioctl(self, op, arg):
        if op == 4:
            return BLOCKS
        if op == 5:
            return BLOCK_SIZE
        if op == 6:
            start = arg * BLOCK_SIZE
            if self.budget is not None and self.operations == self.budget:
                for i in range(BLOCK_SIZE // 2):
                    self.data[start + i] = 0xFF
            self._spend()
            for i in range(BLOCK_SIZE):
                self.data[start + i] = 0xFF
            return 0
        return 0


def _vfs_lfs2():
    if not hasattr(os, "VfsLfs2"):
        raise Skip("LittleFS (os.VfsLfs2) exists only on MicroPython")
    return os.VfsLfs2


def _mounted(flash):
    os.mount(_vfs_lfs2()(flash), MOUNT)
    return ConfigStore(MOUNT + "/config.json")


def _image_with_old_config():
    flash = RamFlash()
    _vfs_lfs2().mkfs(flash)
    store = _mounted(flash)
    try:
        store.save(OLD)
    finally:
        os.umount(MOUNT)
    return bytes(flash.data)


def _after_cut(image, budget):
    """Save NEW on `image` with power for `budget` operations; what a fresh boot then reads."""
    flash = RamFlash(image)
    flash.budget = budget
    store = _mounted(flash)
    completed = True
    try:
        store.save(NEW)
    except OSError:
        completed = False
    finally:
        try:
            os.umount(MOUNT)
        except OSError:
            pass
    rebooted = _mounted(RamFlash(flash.data))
    try:
        return rebooted.load(), completed, flash.operations
    finally:
        os.umount(MOUNT)


@micropython_only
def test_a_power_cut_at_every_step_of_a_save_keeps_old_or_new():
    image = _image_with_old_config()
    _, completed, needed = _after_cut(image, None)
    assert completed and needed > 3
    seen_old = seen_new = 0
    for budget in range(needed + 1):
        found, completed, _ = _after_cut(image, budget)
        assert found in (OLD, NEW), "cut after %d of %d operations left %r" % (budget, needed, found)
        seen_old += found == OLD
        seen_new += found == NEW
        if completed:
            assert found == NEW
    assert seen_old and seen_new  # the cuts did land on both sides of the commit


@micropython_only
def test_a_stray_temporary_file_is_ignored_and_replaced():
    image = _image_with_old_config()
    store = _mounted(RamFlash(image))
    try:
        with open(store.tmp_path, "w") as half:
            half.write('{"export_limit_w": 6')
        assert store.load() == OLD
        store.save(NEW)
        assert store.load() == NEW
        assert "config.json.tmp" not in os.listdir(MOUNT)
    finally:
        os.umount(MOUNT)
