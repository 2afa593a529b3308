"""The Qt binding must not leak references to None: PySide6 6.12.0 lowers None's reference count on
every call that returns nothing, and on Python 3.11 (where None is not immortal) the interpreter
aborts with "deallocating None" once it reaches zero: after about an hour of training in the window."""
from __future__ import annotations

import sys

from PySide6.QtCore import QObject


def test_calls_that_return_nothing_keep_none_alive():
    obj = QObject()
    before = sys.getrefcount(None)
    for _ in range(1000):
        obj.setObjectName("x")
    assert sys.getrefcount(None) - before > -100   # a leak loses one per call
