"""A Hoymiles inverter's family (hm_models.FAMILY_*) from the first 4 hex digits of its serial number.

HMS and HMT prefixes are tested first because OpenDTU's HM rule ("middle
digits 12/14/16") would also match them.

RAM: needed only while the links are built (wiring.py, HoymilesLink.add); wiring.py drops it from sys.modules
after boot, so its tables and code are freed. Allocates nothing.
"""

from hm_models import (
    FAMILY_HM_1T,
    FAMILY_HM_2T,
    FAMILY_HM_4T,
    FAMILY_HMS_1T,
    FAMILY_HMS_1T_V2,
    FAMILY_HMS_2T,
    FAMILY_HMS_4T,
    FAMILY_HMT_4T,
    FAMILY_HMT_6T,
    FAMILY_UNKNOWN,
)

# Prefixes claimed by HMS/HMT before the HM rule applies (OpenDTU and ahoy tables;
# 0x1146 is an HMS-700-2T-NA that once fell through to the nRF path).
_CMT_PREFIXES = {
    0x1124: FAMILY_HMS_1T,
    0x1125: FAMILY_HMS_1T_V2,
    0x1400: FAMILY_HMS_1T_V2,
    0x1143: FAMILY_HMS_2T,
    0x1144: FAMILY_HMS_2T,
    0x1146: FAMILY_HMS_2T,
    0x114A: FAMILY_HMS_2T,
    0x1410: FAMILY_HMS_2T,
    0x1164: FAMILY_HMS_4T,
    0x1166: FAMILY_HMS_4T,
    0x1420: FAMILY_HMS_4T,
    0x1361: FAMILY_HMT_4T,
    0x1382: FAMILY_HMT_6T,
}
# Ahoy's rule for prefixes neither table lists: 0x11x4/0x11x5 and 0x14xx are HMS, 0x13xx
# HMT; the inputs follow from the next digit (2/4/6 -> 1/2/4 inputs; 0x14: 0/1/2).
_HMS_BY_INPUT_DIGIT = {0x2: FAMILY_HMS_1T, 0x4: FAMILY_HMS_2T, 0x6: FAMILY_HMS_4T}
_HMS_14_BY_DIGIT = {0x0: FAMILY_HMS_1T_V2, 0x1: FAMILY_HMS_2T, 0x2: FAMILY_HMS_4T}
# MI gen3 units speak the HM protocol.
_HM_EXTRA = {0x1022: FAMILY_HM_1T, 0x1042: FAMILY_HM_2T, 0x1062: FAMILY_HM_4T}
_HM_BY_MIDDLE = {0x12: FAMILY_HM_1T, 0x14: FAMILY_HM_2T, 0x16: FAMILY_HM_4T}


def family_of_prefix(prefix):
    """The family of a serial prefix (e.g. 0x1141 -> FAMILY_HM_2T), FAMILY_UNKNOWN if not supported."""
    family = _CMT_PREFIXES.get(prefix)
    if family is not None:
        return family
    family = _cmt_by_rule(prefix)
    if family:
        return family
    family = _HM_EXTRA.get(prefix)
    if family is not None:
        return family
    if prefix >> 12 == 1 and (prefix >> 8) & 0xF == 1:
        return _HM_BY_MIDDLE.get((prefix >> 4) & 0xFF, FAMILY_UNKNOWN)
    return FAMILY_UNKNOWN


def _cmt_by_rule(prefix):
    top = prefix >> 8
    if top == 0x11 and prefix & 0xF in (4, 5):
        return _HMS_BY_INPUT_DIGIT.get((prefix >> 4) & 0xF, FAMILY_UNKNOWN)
    if top == 0x14:
        return _HMS_14_BY_DIGIT.get((prefix >> 4) & 0xF, FAMILY_UNKNOWN)
    if top == 0x13:
        return FAMILY_HMT_4T if prefix & 0xFF == 0x61 else FAMILY_HMT_6T
    return FAMILY_UNKNOWN
