# Runs first on every reset, hard or soft (Ctrl-D, mpremote). Kept tiny, and
# nothing here may fail; the application starts from main.py.
import micropython

# Lets an exception raised in a scheduled tick report itself even when the heap is full.
if hasattr(micropython, "alloc_emergency_exception_buf"):
    micropython.alloc_emergency_exception_buf(100)

# The application's watchdog cannot be stopped and survives a soft reset, but
# the timer that fed it does not. After mpremote's soft reset main.py does not
# run, so without this the device would reset ten seconds into a deploy.
# control_loop.py marks RTC memory when it arms the watchdog; here the
# watchdog then gets an hour (main.py's app.main() sets it back to 10 s).
try:
    import machine

    if machine.RTC().memory() == b"wdt":
        machine.WDT(0, timeout=3600000).feed()
except Exception:  # noqa: BLE001 - boot must go on whatever happens
    pass
