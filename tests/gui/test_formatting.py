"""Durations read the same in every panel (the Train panel's ETA, the result lines of the others)."""
from ganstudio.gui.formatting import format_duration, format_seconds


def test_short_durations_keep_their_precision():
    assert format_seconds(0.042) == "0.04 s"
    assert format_seconds(1.26) == "1.3 s"
    assert format_seconds(59.94) == "59.9 s"


def test_long_durations_round_to_what_a_person_reads():
    assert format_seconds(75) == format_duration(75) == "75 s"
    assert format_duration(89.4) == "89 s"
    assert format_duration(12 * 60 + 20) == "12 min"
    assert format_duration(3 * 3600 + 5 * 60) == "3 h 05 min"
    assert format_duration(-3) == "0 s"          # a clock that went backwards never shows a negative time
