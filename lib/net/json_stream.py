"""JSON text as a stream of small bytes pieces, so no message needs one big block.

    size(document)            # its length in bytes (an MQTT header or Content-Length needs it first)
    pieces(document)          # yields b'{', b'"grid": ', b'1234', ... in order

For the documents the gateway publishes: dicts, lists and tuples of ints,
bools, None and strings (a float or any other type is a TypeError: the
firmware's values are integers). The text is what `json.dumps` gives with
its default separators. Both functions walk the same object the same way, so
`size` matches what `pieces` yields as long as the document is not changed in
between: the caller keeps the snapshot until it is sent.

Allocation: a list or dict with no container inside is one piece (its
`json.dumps`: an inverter's row, about 170 bytes, is the largest the gateway
sends); the rest are separators (constants), keys and scalars. The walk
keeps one generator per nesting level. Nothing of the size of the whole
text exists: the state of 4 inverters, 1120 bytes of text, is 97 pieces of
at most 170 bytes; taking the snapshot and streaming it costs 139 us and
7.3 kB of small objects on the 32-bit unix port (bench/bench_mqtt.py;
json.dumps of the snapshot: 79 us, 1.1 kB, but the text in one block).
"""

import json


def pieces(value):
    if isinstance(value, (dict, list, tuple)) and _flat(value):
        yield json.dumps(value).encode()  # no container inside: small, and one piece is far cheaper
    elif isinstance(value, dict):
        separator = b"{"
        for key in value:
            yield separator
            yield json.dumps(key).encode()
            yield b": "
            yield from pieces(value[key])
            separator = b", "
        yield b"{}" if separator == b"{" else b"}"
    elif isinstance(value, (list, tuple)):
        separator = b"["
        for item in value:
            yield separator
            yield from pieces(item)
            separator = b", "
        yield b"[]" if separator == b"[" else b"]"
    elif value is None:
        yield b"null"
    elif value is True:
        yield b"true"
    elif value is False:
        yield b"false"
    elif isinstance(value, int):
        yield b"%d" % value
    elif isinstance(value, str):
        yield json.dumps(value).encode()
    else:
        raise TypeError("not JSON for the gateway: %r" % (value,))


def _flat(container):
    """True if the list or dict holds only ints, bools, strings and None."""
    for item in container.values() if isinstance(container, dict) else container:
        if not (item is None or isinstance(item, (int, str))):
            return False
    return True


def size(value):
    total = 0
    for piece in pieces(value):
        total += len(piece)
    return total

