"""Counts written out in words, as a clerk writes them in a form's words column.

English as Nigerian forms write it ("TWO HUNDRED AND THREE", "ONE THOUSAND AND FIVE") and Spanish
("doscientos tres", "mil doscientos cuarenta y uno"). The inverse of
`shared.form_types.words.parse_number_words`, which the tests hold it to.
"""

from __future__ import annotations

_EN_SMALL = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ES_SMALL = (
    "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince "
    "dieciséis diecisiete dieciocho diecinueve veinte veintiuno veintidós veintitrés veinticuatro "
    "veinticinco veintiséis veintisiete veintiocho veintinueve"
).split()
_ES_TENS = "_ _ _ treinta cuarenta cincuenta sesenta setenta ochenta noventa".split()
_ES_HUNDREDS = (
    "_ ciento doscientos trescientos cuatrocientos quinientos seiscientos setecientos ochocientos novecientos"
).split()
MAX_IN_WORDS = 999_999


def number_to_words(value: int, language: str = "en") -> str:
    """`value` (0 to 999,999) in words, lower case; callers upper-case it as their paper does."""
    if not 0 <= value <= MAX_IN_WORDS:
        raise ValueError(f"number_to_words writes 0 to {MAX_IN_WORDS}, not {value}")
    if language == "en":
        return _english(value)
    if language == "es":
        return _spanish(value)
    raise ValueError(f"number_to_words writes English (en) or Spanish (es), not {language!r}")


def _english_below_thousand(value: int) -> str:
    hundreds, rest = divmod(value, 100)
    parts = [f"{_EN_SMALL[hundreds]} hundred"] if hundreds else []
    if rest:
        if hundreds:
            parts.append("and")
        if rest < 20:
            parts.append(_EN_SMALL[rest])
        else:
            tens, units = divmod(rest, 10)
            parts.append(_EN_TENS[tens] + (f"-{_EN_SMALL[units]}" if units else ""))
    return " ".join(parts)


def _english(value: int) -> str:
    if value == 0:
        return "zero"
    thousands, rest = divmod(value, 1000)
    parts = [f"{_english_below_thousand(thousands)} thousand"] if thousands else []
    if rest:
        if thousands and rest < 100:
            parts.append("and")  # "one thousand and five"
        parts.append(_english_below_thousand(rest))
    return " ".join(parts)


def _spanish_below_thousand(value: int) -> str:
    if value == 100:
        return "cien"
    hundreds, rest = divmod(value, 100)
    parts = [_ES_HUNDREDS[hundreds]] if hundreds else []
    if rest:
        if rest < 30:
            parts.append(_ES_SMALL[rest])
        else:
            tens, units = divmod(rest, 10)
            parts.append(_ES_TENS[tens] + (f" y {_ES_SMALL[units]}" if units else ""))
    return " ".join(parts)


def _spanish(value: int) -> str:
    if value == 0:
        return "cero"
    thousands, rest = divmod(value, 1000)
    parts = []
    if thousands == 1:
        parts.append("mil")
    elif thousands:
        parts.append(f"{_spanish_below_thousand(thousands)} mil".replace("uno mil", "un mil"))
    if rest:
        parts.append(_spanish_below_thousand(rest))
    return " ".join(parts)
