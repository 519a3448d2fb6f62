"""A failed Modbus transaction as an exception, with the names of the codes: for tools and tests.

    raise master.error()          # modbus.Master.error() imports this module on use

Kept out of modbus.py: a running gateway works with the codes and never holds these strings.
"""

# modbus.TIMEOUT and modbus.BAD_FRAME (not imported: modbus imports this module; a test checks they agree)
TIMEOUT = -1
BAD_FRAME = -2

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target failed to respond",
}
LOCAL_NAMES = {
    TIMEOUT: "no response (timeout)",
    BAD_FRAME: "bad response (CRC error, truncated or garbled frame)",
}


class ModbusError(Exception):
    """A failed transaction: `code` > 0 is a Modbus exception code, < 0 a local one."""

    def __init__(self, code, message=None):
        if message is None:
            if code > 0:
                message = "exception %d (%s)" % (code, EXCEPTION_NAMES.get(code, "unknown"))
            else:
                message = LOCAL_NAMES.get(code, "error %d" % code)
        super().__init__(message)
        self.code = code
