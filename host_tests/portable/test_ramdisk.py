"""The RAM flash behaves like NOR flash under LittleFS, and cuts power where told."""

from ramdisk import PowerCut, RamFlash
from testkit import micropython_only, raises


def test_programming_only_clears_bits():
    flash = RamFlash(block_size=16, block_count=2)
    flash.writeblocks(0, b"\x0f", 3)
    flash.writeblocks(0, b"\xf3", 3)
    buf = bytearray(1)
    flash.readblocks(0, buf, 3)
    assert buf[0] == 0x03
    flash.ioctl(6, 0)
    flash.readblocks(0, buf, 3)
    assert buf[0] == 0xFF


def test_a_cut_stops_the_next_operation_and_reboot_keeps_the_bytes():
    flash = RamFlash(block_size=16, block_count=2)
    flash.cut_after(1)
    flash.writeblocks(1, b"\x00", 0)
    raises(PowerCut, flash.writeblocks, 1, b"\x00", 1)
    after = flash.reboot()
    buf = bytearray(2)
    after.readblocks(1, buf, 0)
    assert buf == bytearray(b"\x00\xff")


@micropython_only
def test_littlefs_formats_mounts_and_keeps_a_file():
    import os

    flash = RamFlash()
    os.VfsLfs2.mkfs(flash)
    vfs = os.VfsLfs2(flash)
    with vfs.open("/hello.txt", "w") as handle:
        handle.write("kept")
    mounted = os.VfsLfs2(flash.reboot())
    with mounted.open("/hello.txt", "r") as handle:
        assert handle.read() == "kept"
