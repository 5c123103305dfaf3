"""Counts written in words, as the forms that repeat each figure in words write them.

English ("TWO HUNDRED AND THREE", "one thousand and five", "NIL") and Spanish ("doscientos
tres", "mil doscientos cuarenta y uno", "cero"). A text that is not a number in the language
reads as None: a words column is compared with its figures only where both were read.
"""

from __future__ import annotations

import re
import unicodedata

WORD_LANGUAGES = ("en", "es")
_ZERO = {"nil", "none", "zero", "nought", "cero", "ninguno", "nada", "0"}
_DASHES = {"-", "--", "—", "–"}

_EN_UNITS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_ES_UNITS = {
    "un": 1, "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7,
    "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12, "trece": 13, "catorce": 14,
    "quince": 15, "dieciseis": 16, "diecisiete": 17, "dieciocho": 18, "diecinueve": 19, "veinte": 20,
    "veintiun": 21, "veintiuno": 21, "veintidos": 22, "veintitres": 23, "veinticuatro": 24,
    "veinticinco": 25, "veintiseis": 26, "veintisiete": 27, "veintiocho": 28, "veintinueve": 29,
    "treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60, "setenta": 70, "ochenta": 80,
    "noventa": 90, "cien": 100, "ciento": 100, "doscientos": 200, "doscientas": 200,
    "trescientos": 300, "trescientas": 300, "cuatrocientos": 400, "cuatrocientas": 400,
    "quinientos": 500, "quinientas": 500, "seiscientos": 600, "seiscientas": 600,
    "setecientos": 700, "setecientas": 700, "ochocientos": 800, "ochocientas": 800,
    "novecientos": 900, "novecientas": 900,
}  # fmt: skip
_HUNDRED = {"hundred": 100}
_SCALES = {"thousand": 1_000, "million": 1_000_000, "mil": 1_000, "millon": 1_000_000, "millones": 1_000_000}
_FILLERS = {"and", "y", "only", "votes", "vote", "votos", "voto"}


def parse_number_words(text: str | None, language: str = "en") -> int | None:
    """The count a words cell states, or None when it states none (or not in `language`)."""
    if text is None:
        return None
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    stripped = folded.strip().strip(".")
    if stripped in _DASHES:
        return 0
    words = [w for w in re.split(r"[\s,.\-]+", folded) if w]
    if not words:
        return None
    if len(words) == 1 and words[0] in _ZERO:
        return 0
    units = _ES_UNITS if language == "es" else _EN_UNITS if language == "en" else None
    if units is None:
        return None
    total, group, seen_number = 0, 0, False
    for word in words:
        if word in _FILLERS:
            continue
        if word in units:
            group += units[word]
        elif word in _HUNDRED and language == "en":
            group = (group or 1) * 100
        elif word in _SCALES:
            total += (group or 1) * _SCALES[word]
            group = 0
        else:
            return None
        seen_number = True
    return total + group if seen_number else None
