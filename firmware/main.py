# Starts the application. If it fails to import or crashes, the error is
# printed and the REPL stays reachable: a crash must never become a reset loop.
import sys

try:
    import app
except ImportError as error:
    print("main: no application installed:", error)
else:
    try:
        app.main()
    except Exception as error:
        sys.print_exception(error)
        print("main: application stopped; the REPL is free")
