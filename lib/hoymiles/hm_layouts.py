"""RealTimeRunData layouts and per-family facts as tuples of ints, for hm_models.py, which makes bytes of them.

hm_models imports this module once and drops it: a module loaded from a .mpy file keeps its constants on the
heap for as long as it is loaded, and these tuples are needed only until their bytes exist.

FAMILY_RADIO and LAYOUTS are in hm_models.FAMILY_* order: unknown, HM-1T, -2T, -4T, HMS-1T,
-2T, -4T, HMT-4T, -6T, HMS-1T v2.
"""

# The radio of each family (hm_models.RADIO_*: 0 none, 1 nRF24, 2 CMT2300A); its DC inputs follow from its layout.
FAMILY_RADIO = (0, 1, 1, 1, 2, 2, 2, 2, 2, 2)

# Three-phase HMT: voltages L2-N, L3-N and currents L2, L3 (L1 is in the AC fields).
PHASES_HMT = (70, 72, 88, 90)


def _layouts():
    """RealTimeRunData layouts by family: payload length (without CRC16), then IN_FIELDS offsets per input,
    then AC_FIELDS offsets ([ODTU] HM_1CH/HM_2CH/HM_4CH, identical in ahoy). HMS/HMT: [ODTU] HMS_1CH,
    HMS_1CHv2, HMS_2CH, HMS_4CH, HMT_4CH, HMT_6CH; HMS-1T is HM-1T's layout; HMT inputs share a voltage in
    pairs, and its AC voltage and current are phase L1's.
    """
    hm_1t = (30, 2, 4, 6, 8, 12, 14, 16, 18, 20, 22, 24, 26, 28)
    hm_2t = (42, 2, 4, 6, 14, 22, 8, 10, 12, 18, 24, 26, 28, 30, 32, 34, 36, 38, 40)
    hm_4t = (
        62,
        2,
        4,
        8,
        12,
        20,
        2,
        6,
        10,
        16,
        22,
        24,
        26,
        30,
        34,
        42,
        24,
        28,
        32,
        38,
        44,
        46,
        48,
        50,
        52,
        54,
        56,
        58,
        60,
    )
    hms_1t_v2 = (40, 2, 6, 10, 14, 22, 26, 28, 30, 20, 34, 36, 38, 18)
    hms_2t = (42, 2, 6, 10, 14, 22, 4, 8, 12, 18, 24, 26, 28, 30, 32, 34, 36, 38, 40)
    hms_4t = (
        66,
        2,
        6,
        10,
        14,
        22,
        4,
        8,
        12,
        18,
        24,
        26,
        30,
        34,
        38,
        46,
        28,
        32,
        36,
        42,
        48,
        50,
        52,
        54,
        56,
        58,
        60,
        62,
        64,
    )
    hmt_inputs_1_4 = (2, 4, 8, 12, 20, 2, 6, 10, 16, 22, 24, 26, 30, 34, 42, 24, 28, 32, 38, 44)
    hmt_ac = (68, 80, 82, 84, 86, 92, 94, 96)
    hmt_4t = (98,) + hmt_inputs_1_4 + hmt_ac
    hmt_6t = (98,) + hmt_inputs_1_4 + (46, 48, 52, 56, 64, 46, 50, 54, 60, 66) + hmt_ac
    return (None, hm_1t, hm_2t, hm_4t, hm_1t, hms_2t, hms_4t, hmt_4t, hmt_6t, hms_1t_v2)


LAYOUTS = _layouts()  # (its locals are no names this module keeps)
