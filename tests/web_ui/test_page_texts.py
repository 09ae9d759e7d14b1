"""Every text the pages ask for is written in Simplified Chinese and in English. A key missing from a dictionary
shows the reader the key itself ("console.endedOthersStay") instead of a sentence."""

from __future__ import annotations

import re
from pathlib import Path

import web_ui

STATIC = Path(web_ui.__file__).parent / "static"
DEFINED = re.compile(r'^\s+"([^"]+)":', re.MULTILINE)
# t("key"), tf("key", ...), data-i18n="key", data-i18n-attr="title:key,...", and the { on: "key" } tables.
USED = (
    re.compile(r'\bt[f]?\("([^"]+)"'),
    re.compile(r'\bdata-i18n="([^"]+)"'),
    re.compile(r'\b(?:on|off|key|i18n)\s*:\s*"([a-z]+\.[\w.]+)"'),
)
ATTRIBUTES = re.compile(r'\bdata-i18n-attr="([^"]+)"')


def dictionaries() -> tuple[set[str], set[str]]:
    chinese: set[str] = set()
    english: set[str] = set()
    for path in STATIC.glob("*i18n.js"):
        zh, found, en = path.read_text(encoding="utf-8").partition("\n  en: {")
        assert found, f"{path.name} has no English part"
        chinese |= set(DEFINED.findall(zh)) - {"zh-CN"}
        english |= set(DEFINED.findall(en))
    return chinese, english


def used_keys() -> dict[str, str]:
    used: dict[str, str] = {}
    for path in sorted([*STATIC.glob("*.js"), *STATIC.glob("*.html")]):
        if path.name.endswith("i18n.js"):
            continue
        text = path.read_text(encoding="utf-8")
        keys = [key for pattern in USED for key in pattern.findall(text)]
        keys += [pair.split(":", 1)[1] for value in ATTRIBUTES.findall(text) for pair in value.split(",")]
        for key in keys:
            if not key.endswith("."):  # a prefix the page completes ("role." + role)
                used.setdefault(key, path.name)
    return used


def test_both_languages_have_the_same_texts():
    chinese, english = dictionaries()
    assert len(chinese) > 300
    assert sorted(chinese - english) == [] and sorted(english - chinese) == []


def test_every_text_a_page_asks_for_is_written():
    chinese, english = dictionaries()
    used = used_keys()
    assert "console.endedOthersStay" in used and "wall.ptz.up" in used  # the scan sees calls and attributes
    missing = sorted(f"{key} ({page})" for key, page in used.items() if key not in chinese or key not in english)
    assert missing == []
