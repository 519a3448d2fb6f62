"""Runs the named test functions of one portable module under MicroPython.

Started by the pytest plugin in host_tests/conftest.py as
`micropython mp_runner.py MODULE RESULTS_FILE NAME...`. Writes one JSON line
per test as soon as it finishes, so a crash keeps the results before it.
"""

import io
import json
import sys

from testkit import Skip


def _traceback(error):
    text = io.StringIO()
    sys.print_exception(error, text)
    return text.getvalue()


def main():
    module_name, results_path = sys.argv[1], sys.argv[2]
    module = __import__(module_name)
    with open(results_path, "w") as results:
        for name in sys.argv[3:]:
            try:
                getattr(module, name)()
                outcome, detail = "passed", ""
            except Skip as skip:
                outcome, detail = "skipped", str(skip)
            except BaseException as error:  # noqa: BLE001 - every failure is reported
                outcome, detail = "failed", _traceback(error)
            results.write(json.dumps({"name": name, "outcome": outcome, "detail": detail}))
            results.write("\n")
            results.flush()


main()
