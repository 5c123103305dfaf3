"""OCR text of a paper of a known form type -> VoteExtraction with the type's `statistics`.

Pure Python. Used for every type but `generic` (which `parser.parse_form_text` reads as before).

How a typed paper is read:
1. Each statistic is found by its printed label (`FormType.label`), tolerantly: numbering
   ("1.", "#5 + #6 + #7"), accents, case and a few OCR errors do not matter; each line answers
   for at most one statistic, the closest labels first.
2. Its figure is what follows the label on that line: a count ("1,234"), digits written one per
   box ("0 1 4" -> 14), "NIL" or a dash (0). Where a figure was struck out and written again,
   the rightmost (the rewrite) counts.
3. Candidate or party rows are the lines below the table heading ("Party", "Votes", "Partido",
   "Votos", ...) that are no statistic; on a type with words, the words cell is kept as written
   (`vote_count_words`) and, among a figure's readings, the one the words state comes first.
4. Where a count has several readings, the ones that make the type's rules hold are chosen
   (`shared.form_types` rules), changing as few first readings as possible.
Values that cannot be read are null; nothing is inferred from the other numbers.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from difflib import SequenceMatcher, get_close_matches

from shared.form_types.model import FormType
from shared.form_types.words import parse_number_words
from shared.llm.ocr.numbers import count_readings, looks_like_count, maybe_zero
from shared.models import FormInfo, VoteExtraction, VoteResult

_LABEL_MATCH = 0.72  # how close a line's text must be to a label (difflib ratio on folded words)
_CELL_SPLIT = re.compile(r"\s{2,}|\s*[|¦‖]\s*")
_NIL = re.compile(r"^[nm][il1|!][l1|i!]\.?$", re.IGNORECASE)
_DASH = re.compile(r"^[-–—_~=.]{1,4}$")
_TABLE_HEADING = re.compile(r"\b(?:part(?:y|ies|ido)|politic[ao]|candidat[eo]s?|votes?|votos?|organizaci)", re.I)
_CANDIDATE_HEADING = re.compile(r"candidat|\bname\b|nombre", re.I)
_PARTY_HEADING = re.compile(r"part(?:y|ido)|politic|organizaci|affiliation", re.I)
_FIGURES_HEADING = re.compile(r"figure|cifra|numero|votes?\b|votos?\b", re.I)
_WORDS_HEADING = re.compile(r"\bwords?\b|letras?|literal", re.I)
_FOOTER = re.compile(r"officer|signature|signed|stamp|observ|presidente|firma|\bagents?\b", re.I)
_SERIAL = re.compile(r"^[0-9OoIl|]{1,2}[.)]?$")
# Handwritten digits Tesseract reads as letters, beyond numbers' lookalikes (figure cells only).
_HANDWRITTEN = str.maketrans({"y": "4", "u": "4", "h": "4", "H": "4", "\\": "1",
                              "/": "1", "?": "7", "&": "6", "t": "7", "r": "1", "V": "4"})  # fmt: skip
_ROUND_LETTERS = {"O", "o", "Q", "D", "()"}
_SHORT_JUNK = re.compile(r"^[^0-9A-Za-z]{1,2}$|^[a-z][)\]}]$")
_SAME_IN_BOTH_CASES = set("cosvwxz")
_ZERO_WORDS = {"nil", "zero", "cero"}
_NUMBER_WORDS = {
    "en": (
        "and nil zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
        "ninety hundred thousand"
    ).split(),
    "es": (
        "y cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece catorce quince "
        "dieciseis diecisiete dieciocho diecinueve veinte veintiuno veintidos veintitres veinticuatro "
        "veinticinco veintiseis veintisiete veintiocho veintinueve treinta cuarenta cincuenta sesenta "
        "setenta ochenta noventa cien ciento doscientos trescientos cuatrocientos quinientos "
        "seiscientos setecientos ochocientos novecientos mil"
    ).split(),
}
_MAX_EVALUATIONS = 20_000


@dataclass(frozen=True)
class _Cell:
    text: str
    start: int
    end: int

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2


@dataclass
class _Row:
    name: str
    party: str | None
    words: str | None = None
    readings: list[int | None] = field(default_factory=list)
    span: tuple[int, int, int] | None = None  # its figure cells: (line index, first column, last column + 1)


def fold(text: str) -> str:
    """Lower case, no accents, letters and single spaces only: what a label is compared on."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    ascii_text = re.sub(r"\(?\s*#.*$", " ", ascii_text)  # "(#5 + #6 + #7)" and what OCR makes of it
    return " ".join(re.findall(r"[a-z]{2,}", ascii_text))


def parse_typed_text(text: str, form_type: FormType) -> VoteExtraction:
    """Parse a typed paper's OCR text (laid out with cells two spaces apart) into a VoteExtraction."""
    return parse_typed_text_with_cells(text, form_type)[0]


def parse_typed_text_with_cells(
    text: str, form_type: FormType
) -> tuple[VoteExtraction, dict[str, tuple[int, int, int]]]:
    """`parse_typed_text`, and where each count read came from: `{field path: (line number in
    text.splitlines(), first column, last column + 1)}`."""
    numbered = [(n, line.rstrip()) for n, line in enumerate(text.replace("\t", "    ").splitlines()) if line.strip()]
    lines = [line for _, line in numbered]
    stat_lines = _match_labels(lines, form_type)
    statistics = {key: _figure_readings(_cells(lines[index])[1:]) for key, index in stat_lines.items()}
    rows = _table_rows(lines, set(stat_lines.values()), form_type)
    stats, votes = _choose(form_type, statistics, rows)
    spans: dict[str, tuple[int, int, int]] = {}
    for key, index in stat_lines.items():
        figures = _cells(lines[index])[1:]
        if figures and stats.get(key) is not None:
            spans[f"statistics.{key}"] = (numbered[index][0], figures[0].start, figures[-1].end)
    for position, (row, count) in enumerate(zip(rows, votes, strict=True)):
        if row.span is not None and count is not None:
            line, start, end = row.span
            spans[f"vote_results[{position}].vote_count"] = (numbered[line][0], start, end)
    return _extraction(form_type, rows, votes, stats), spans


def _extraction(
    form_type: FormType, rows: list[_Row], votes: list[int | None], stats: dict[str, int | None]
) -> VoteExtraction:
    return VoteExtraction(
        form=FormInfo(form_type=form_type.ref),
        vote_results=[
            VoteResult(
                candidate_name=row.name,
                party=row.party,
                vote_count=count,
                vote_count_words=row.words if form_type.figures_in_words else None,
            )
            for row, count in zip(rows, votes, strict=True)
        ],
        statistics={key: stats.get(key) for key in form_type.keys},
    )


def _cells(line: str) -> list[_Cell]:
    cells, position = [], 0
    for piece in _CELL_SPLIT.split(line):
        start = line.find(piece, position) if piece else position
        position = start + len(piece)
        if piece.strip():
            cells.append(_Cell(piece.strip(), start, start + len(piece)))
    return cells


# --- statistics ------------------------------------------------------------------------------


def _match_labels(lines: list[str], form_type: FormType) -> dict[str, int]:
    """statistic key -> index of the line printing its label; closest pairs are taken first."""
    labels = {key: fold(form_type.label(key)) for key in form_type.keys}
    scored = []
    for index, line in enumerate(lines):
        cells = _cells(line)
        if len(cells) < 1:
            continue
        printed = fold(cells[0].text)
        if not printed:
            continue
        for key, label in labels.items():
            ratio = SequenceMatcher(None, label, printed, autojunk=False).ratio()
            if ratio >= _LABEL_MATCH:
                scored.append((ratio, key, index))
    found: dict[str, int] = {}
    used: set[int] = set()
    for _, key, index in sorted(scored, reverse=True):
        if key not in found and index not in used:
            found[key] = index
            used.add(index)
    return found


def _figure_readings(cells: list[_Cell]) -> list[int | None]:
    """The readings of a handwritten figure cell (what follows a label, or a row's figures column)."""
    texts = [c.text for c in cells if c.text.strip()]
    if not texts:
        return []
    if any(_NIL.match(t) for t in texts) or all(_DASH.match(t) for t in texts):
        return [0]
    if len(texts) == 1 and texts[0] in _ROUND_LETTERS:  # a handwritten zero read as a letter
        return [0]
    pieces = [piece for text in texts for piece in text.split()]
    joined = "".join(pieces)
    readings: list[int | None] = []
    if len(pieces) > 1 and all(len(p) <= 2 for p in pieces):
        readings += _readings_of(joined)  # digits in boxes, read one or two at a time
    readings += _readings_of(pieces[-1])  # a rewrite stands right of a struck-out figure
    if len(pieces) > 1:
        readings += _readings_of(" ".join(pieces))  # "1 234": a thousands group
        readings += _readings_of(joined)
    unique: list[int | None] = []
    for value in readings:
        if value not in unique:
            unique.append(value)
    if not unique and (maybe_zero(texts[-1]) or _SHORT_JUNK.match(texts[-1])):
        return [None, 0]  # a zero Tesseract could not make out: only the rules or the words say so
    return unique


def _readings_of(text: str) -> list[int]:
    text = text.strip(".,'`:;")
    found: list[int] = list(count_readings(text)) if looks_like_count(text) else []
    handwritten = text.translate(_HANDWRITTEN)
    if handwritten != text and looks_like_count(handwritten):
        found += [v for v in count_readings(handwritten) if v not in found]
    marks_dropped = re.sub(r"[.,'`’]", "", handwritten)  # a stray mark or box edge, not a separator
    if not found and marks_dropped != handwritten and looks_like_count(marks_dropped):
        found += count_readings(marks_dropped)
    return found


# --- rows ------------------------------------------------------------------------------------


def _table_rows(lines: list[str], stat_lines: set[int], form_type: FormType) -> list[_Row]:
    heading = next(
        (i for i, line in enumerate(lines) if i not in stat_lines and len(_TABLE_HEADING.findall(line)) >= 2), None
    )
    if heading is None:
        return []
    head_cells = _cells(lines[heading])
    has_names = bool(_CANDIDATE_HEADING.search(lines[heading])) and bool(_PARTY_HEADING.search(lines[heading]))
    figures_at = _column(head_cells, _FIGURES_HEADING, _WORDS_HEADING)
    words_at = _column(head_cells, _WORDS_HEADING, None) if form_type.figures_in_words else None
    rows: list[_Row] = []
    for index in range(heading + 1, len(lines)):
        if index in stat_lines or _FOOTER.search(lines[index]):
            if rows:
                break
            continue
        row = _row(_cells(lines[index]), has_names, figures_at, words_at, form_type.language)
        if row is not None:
            row.span = (index, row.span[1], row.span[2]) if row.span is not None else None
            rows.append(row)
    return rows


def _column(cells: list[_Cell], pattern: re.Pattern[str], unless: re.Pattern[str] | None) -> float | None:
    for cell in cells:
        if pattern.search(cell.text) and not (unless is not None and unless.search(cell.text)):
            return cell.centre
    return None


def _row(
    cells: list[_Cell], has_names: bool, figures_at: float | None, words_at: float | None, language: str
) -> _Row | None:
    if cells and _SERIAL.match(cells[0].text) and len(cells) > 1:
        cells = cells[1:]
    texts: list[str] = []
    while cells and _is_name(cells[0].text) and len(texts) < (2 if has_names else 1):
        text = cells.pop(0).text
        if has_names and not texts and len(text) == 1:
            continue  # a grid-line remnant before a candidate's name ("L"), not a name
        texts.append(text)
    if not texts:
        return None
    if has_names:
        name, party = texts[0], texts[1] if len(texts) > 1 else None
    else:
        name = party = texts[0]
    figures: list[_Cell] = []
    words: list[_Cell] = []
    for cell in cells:
        in_words = words_at is not None and (
            figures_at is None or abs(cell.centre - words_at) < abs(cell.centre - figures_at)
        )
        (words if in_words else figures).append(cell)
    if words_at is not None and figures_at is None and figures and not words:
        figures, words = figures[:1], figures[1:]
    row = _Row(name=_clean(name), party=_clean(party) if party else None)
    row.readings = _figure_readings(figures)
    if figures:
        row.span = (-1, figures[0].start, figures[-1].end)  # the caller knows the line
    if words:
        row.words = _snap_words(" ".join(c.text for c in words), language)
        stated = parse_number_words(row.words, language)
        if stated is not None and stated in row.readings:  # the words settle which reading it is
            row.readings.remove(stated)
            row.readings.insert(0, stated)
    return row


def _snap_words(text: str, language: str) -> str:
    """Words as written, with each misread number word put right ("HONDRED" -> "HUNDRED", "NUL" ->
    "NIL") when it is close to one; words already readable are kept as read."""
    vocabulary = _NUMBER_WORDS.get(language)
    if vocabulary is None or parse_number_words(text, language) is not None:
        return text
    tokens = re.split(r"(\s+|-)", text.strip(" .,;:'\"“”‘’"))
    if len(tokens) > 1:  # zero is written alone: inside a number, "NID" is "AND", not "NIL"
        vocabulary = [w for w in vocabulary if w not in _ZERO_WORDS]
    snapped = []
    for token in tokens:
        word = token.strip(".,;:'\"“”‘’").lower()
        close = get_close_matches(word, vocabulary, n=1, cutoff=0.66) if len(word) >= 2 else []
        if close and close[0] != word:
            token = close[0].upper() if token.isupper() else close[0]
        snapped.append(token)
    return "".join(snapped)


def _is_name(text: str) -> bool:
    letters = sum(ch.isalpha() for ch in text)
    return letters >= 1 and letters >= sum(ch.isdigit() for ch in text) and not _NIL.match(text)


def _clean(text: str) -> str:
    text = text.strip(" |[]{}_—–=~.,:;\"`!*#^<>/\\‘’“”'")
    if len(text) <= 4 and set(text) <= _SAME_IN_BOTH_CASES:
        return text.upper()  # "cc": an acronym whose letters look the same in either case
    return text


# --- the type's arithmetic chooses among readings --------------------------------------------


def _choose(
    form_type: FormType, statistics: dict[str, list[int | None]], rows: list[_Row]
) -> tuple[dict[str, int | None], list[int | None]]:
    """One reading per count: the choice that passes most of the type's rules, then the one that
    changes the fewest first readings."""
    keys = list(statistics)
    options: list[list[int | None]] = [statistics[k] or [None] for k in keys] + [r.readings or [None] for r in rows]
    primary = [o[0] for o in options]
    ambiguous = [i for i, o in enumerate(options) if len(o) > 1]

    def score(values: list[int | None]) -> int:
        stats = dict(zip(keys, values[: len(keys)], strict=True))
        votes = [v for v in values[len(keys) :] if v is not None]
        return passed_rules(form_type, stats, sum(votes) if votes else None)

    best, chosen, evaluations = score(primary), primary, 0
    for size in (1, 2):
        for changed in itertools.combinations(ambiguous, size):
            for picks in itertools.product(*(options[i][1:] for i in changed)):
                evaluations += 1
                if evaluations > _MAX_EVALUATIONS:
                    break
                values = list(primary)
                for index, value in zip(changed, picks, strict=True):
                    values[index] = value
                if (result := score(values)) > best:
                    best, chosen = result, values
        if best == len(form_type.rules):
            break
    return dict(zip(keys, chosen[: len(keys)], strict=True)), chosen[len(keys) :]


def passed_rules(form_type: FormType, statistics: dict[str, int | None], votes_sum: int | None) -> int:
    """How many of the type's rules hold: `check_rules` on plain numbers, cheap enough to try
    thousands of combinations of readings."""
    return sum(rule.check(statistics, votes_sum)[0] == "pass" for _, rule in form_type.parsed_rules)
