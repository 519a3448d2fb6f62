# Starts the application, which returns at once: the control loop runs from a
# timer and the REPL stays free. If it fails to import or to start, the error
# is printed and the REPL stays reachable: a crash never becomes a reset loop.
# A file /nostart keeps the application from starting (for maintenance).
import os
import sys

try:
    os.stat("/nostart")
    skip = True
except OSError:
    skip = False

if skip:
    print("main: /nostart exists, application not started (os.remove('/nostart') and reset to run it)")
else:
    try:
        import app
    except ImportError as error:
        print("main: no application installed:", error)
    else:
        try:
            app.main()
        except Exception as error:  # noqa: BLE001 - any failure leaves the REPL free
            sys.print_exception(error)
            print("main: application stopped; the REPL is free")
