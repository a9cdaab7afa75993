"""``omniembed._env``: every environment switch is parsed the same way (issue 15 review: the LanceDB
native-path switch accepted only ``0`` while the OCR triage and thread switches also took ``off``)."""

from __future__ import annotations

import pytest

from omniembed import _env
from omniembed.encoders.ocr import Ocr
from omniembed.store import _lance_native


@pytest.mark.parametrize("value, on_by_default, off_by_default", [
    (None, True, False), ("", True, False), ("1", True, True), ("true", True, True), (" Yes ", True, True),
    ("on", True, True), ("0", False, False), ("off", False, False), ("False", False, False), ("NO", False, False),
    ("maybe", True, False),
])
def test_flag(value, on_by_default, off_by_default):
    env = {} if value is None else {"OMNIEMBED_X": value}
    assert _env.flag("OMNIEMBED_X", True, env) is on_by_default
    assert _env.flag("OMNIEMBED_X", False, env) is off_by_default


@pytest.mark.parametrize("value, expected", [(None, None), ("", None), ("0", None), ("-2", None), ("x", None),
                                             ("3", 3), (" 4 ", 4)])
def test_positive_int(value, expected):
    assert _env.positive_int("OMNIEMBED_N", {} if value is None else {"OMNIEMBED_N": value}) == expected


def test_switches_use_the_shared_parser(monkeypatch):
    """The real switches, read from the process environment: ``off`` works for each of them."""
    monkeypatch.setenv("OMNIEMBED_OCR_TRIAGE", "off")
    assert Ocr().triage is False
    monkeypatch.setenv("OMNIEMBED_OCR_TRIAGE", "on")
    assert Ocr().triage is True
    monkeypatch.setenv("OMNIEMBED_LANCE_NATIVE", "off")
    assert _lance_native._load() is None
