"""What portable tests need beyond `assert`, on CPython and MicroPython alike.

pytest's own helpers do not exist under MicroPython, so portable test
modules use these instead.
"""


class Skip(Exception):
    """Raised by a test that cannot run on this runtime; reported as skipped."""


def micropython_only(function):
    """Run this test only under the MicroPython unix port (e.g. heap_lock tests)."""
    try:
        function.runtimes = ("micropython",)
    except AttributeError:  # MicroPython functions take no attributes
        pass
    return function


def raises(exception_type, function, *args):
    """Call `function(*args)`, assert it raises `exception_type`, return the exception."""
    try:
        function(*args)
    except exception_type as error:
        return error
    raise AssertionError("%s did not raise %s" % (function.__name__, exception_type.__name__))


def is_micropython():
    import sys

    return sys.implementation.name == "micropython"
