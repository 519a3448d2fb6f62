"""DTU payload parsing stays within the ESP32's small ints and float-free for any payload a broker can carry."""

import ranges
from hypothesis import example, given, settings
from hypothesis import strategies as st

BRIDGE = ranges.load("mqtt_bridge", "fleet")
DECIMALS = st.from_regex(r"\A-?[0-9]{1,9}(\.[0-9]{0,12})?\Z", fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(payload=st.one_of(st.binary(max_size=24), DECIMALS.map(str.encode)))
@example(payload=b"9999999.99")
@example(payload=b"-9999999.95")
@example(payload=b"99999999")
def test_any_payload_parses_within_range_to_the_decimal_value(payload):
    value = BRIDGE.parse_dw(payload)
    text = payload.decode("latin-1")
    integer, _, fraction = text.lstrip("-").partition(".")
    well_formed = (
        integer.isdigit()
        and integer.isascii()
        and len(integer) <= 7
        and ("." not in text or (fraction.isdigit() and fraction.isascii()))
        and text.count("-") == text.startswith("-")
    )
    if not well_formed:
        assert value == BRIDGE.NOT_A_NUMBER
        return
    # Round half away from zero on the hundredths, exactly (no floats in the reference either).
    tenths = int(integer) * 10 + (int(fraction[0]) if fraction else 0)
    if len(fraction) > 1 and fraction[1] >= "5":
        tenths += 1
    assert value == (-tenths if text.startswith("-") else tenths)
