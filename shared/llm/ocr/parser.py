"""OCR text of a result form -> VoteExtraction. Pure Python, no heavy imports.

The text is expected line by line, with table cells separated by two or more spaces or by "|"
(the reader lays Tesseract's words out that way); single-spaced text still parses, with less
certainty about which text is the name and which the party.

How a form is read:
1. The table header ("Candidate | Party | Votes", in any order and wording) tells which column
   holds what; without one, counts are told from text by their shape.
2. Candidate rows are the lines between the header and the first ballot-statistics line.
3. Ballot statistics are found by label (valid / rejected, spoilt, invalid / total, ballots cast,
   ballots in box), anywhere below the header block.
4. Where a count has more than one plausible reading, the readings that make candidate votes sum
   to the valid votes, and valid + rejected equal the total, are chosen.
Values that cannot be read are null; nothing is inferred from the other numbers.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from shared.form_types.checks import check_rules
from shared.form_types.model import GENERIC, FormType
from shared.llm.ocr import typed_parser
from shared.llm.ocr.numbers import count_readings, looks_like_count, maybe_zero
from shared.models import BallotStats, FormInfo, VoteExtraction, VoteResult

# --- vocabulary ------------------------------------------------------------------------------

_REJECTED = re.compile(r"reject|spoil|invalid|\bvoid\b|\bnull\b", re.IGNORECASE)
_VALID = re.compile(r"(?<![a-z])valid", re.IGNORECASE)
_TOTAL = re.compile(
    r"\btotal\b|\bcast\b|\bin\s+(?:the\s+)?box\b|\bballots?\s+counted\b",
    re.IGNORECASE,
)
# Lines with numbers that are none of the three statistics.
_NOT_STATS = re.compile(r"regist|turnout|issued|unused|eligible|percent|%", re.IGNORECASE)
_HEADER_BLOCK = re.compile(
    r"constituen|county|ward\b|polling|station|\bcode\b|\bdate\b|\bform\b|registered|officer|signature|"
    r"commission|election|agent|\btime\b|stamp|declar",
    re.IGNORECASE,
)
_FOOTER = re.compile(r"officer|signature|signed|\bagents?\b|stamp|declare|certif", re.IGNORECASE)
_HEAD_NO = re.compile(r"^(?:no\.?|nos?|s\.?\s*/?\s*no\.?|s/?n|#|ser\.?|serial|item|sr\.?)$", re.IGNORECASE)
_HEAD_NAME = re.compile(r"candidate|\bname", re.IGNORECASE)
_HEAD_PARTY = re.compile(r"party|affiliation|political|sponsor", re.IGNORECASE)
_HEAD_VOTES = re.compile(r"\bvotes?\b|results?|score|tally|\bcount\b|figures|obtained|received", re.IGNORECASE)
_PARTY_WORDS = re.compile(
    r"\b(?:party|alliance|movement|congress|front|union|coalition|democrats?|independent|league|forum|"
    r"association|caucus|national|people'?s|united|republican|labour|labor|liberal)\b",
    re.IGNORECASE,
)
# Two spaces, a grid-line remnant, or a lone dash or "=" left where a rule crossed the row.
_CELL_SPLIT = re.compile(r"\s{2,}|\s*[|¦‖]\s*|\s+[—–=_~]+\s+")
_TRAILING_COUNT = re.compile(r"^(?P<text>.*[A-Za-z].*?)\s+(?P<count>[0-9OolI|,. ]*[0-9][0-9OolI,. ]*)$")
_LEADING_COUNT = re.compile(r"^(?P<count>[0-9OQD©()][0-9OQD©,. ()]*)\s+(?P<text>[A-Za-z(].*)$")
_LEADING_SERIAL = re.compile(r"^\d{1,2}\s*[.)]\s*(?=[A-Za-z])")
_NAME_AND_PARTY = re.compile(r"^(?P<name>.*?[A-Za-z].*?)\s*[(\[{](?P<party>[^()\[\]{}]+)[)\]}]?\s*$")
_NAME_EDGE_JUNK = "|[]{}_—–-=~.,:;\"`!*#^<>/\\ ‘’“”'"
_NO_PARTY = re.compile(r"^[-–—_.\s]*$|^(?:none|nil|n/?a)$", re.IGNORECASE)

_MAX_COMBINATIONS = 4096


@dataclass(frozen=True)
class _Cell:
    text: str
    start: int
    end: int

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2


@dataclass(frozen=True)
class _Column:
    kind: str  # "no", "name", "party", "votes", "name_party"
    start: int
    end: int

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2


# Where a count was read in the OCR text: (line number in `text.splitlines()`, first and last
# character column + 1 of its cell), for the reader to turn into a box on the page.
CellSpan = tuple[int, int, int]
_STAT_PATHS = {"valid": "ballot_stats.valid_votes", "rejected": "ballot_stats.rejected_ballots",
               "total": "ballot_stats.total_ballots"}  # fmt: skip


@dataclass
class _Row:
    name: str
    party: str | None
    # possible counts, most likely first; a leading None means "unread unless the sums say otherwise"
    readings: list[int | None] = field(default_factory=list)
    span: CellSpan | None = None  # the cell its count was read from (line index in the parsed lines)


# --- entry point -----------------------------------------------------------------------------


def _typed(form_type: FormType | None) -> bool:
    """A paper of a type other than `generic` is read by its labels (`typed_parser`)."""
    return form_type is not None and form_type.name != GENERIC


def parse_form_text(text: str, form_type: FormType | None = None) -> VoteExtraction:
    """Parse a form's OCR text into a VoteExtraction (unreadable values are null); a `form_type`
    other than `generic` is read by its printed labels into `statistics`."""
    return parse_form_text_with_cells(text, form_type)[0]


def parse_form_text_with_cells(
    text: str, form_type: FormType | None = None
) -> tuple[VoteExtraction, dict[str, CellSpan]]:
    """`parse_form_text`, and where in `text` each count that was read came from, by field path
    (`vote_results[2].vote_count`, `ballot_stats.valid_votes`, `statistics.<key>`)."""
    if _typed(form_type):
        return typed_parser.parse_typed_text_with_cells(text, form_type)  # type: ignore[arg-type]
    numbered = [(number, _clean_line(line)) for number, line in enumerate(text.splitlines())]
    numbered = [(number, line) for number, line in numbered if line.strip()]
    lines = [line for _, line in numbered]
    header_index, columns = _find_table_header(lines)
    stat_spans: dict[str, CellSpan] = {}
    stats_readings, first_stats = _find_ballot_stats(lines, header_index=header_index, spans=stat_spans)
    rows = _candidate_rows(lines, header_index, first_stats, columns)
    votes, stats = _choose_consistent(
        [row.readings for row in rows],
        [stats_readings.get(kind, []) for kind in ("valid", "rejected", "total")],
    )
    spans: dict[str, CellSpan] = {}
    for index, (row, count) in enumerate(zip(rows, votes, strict=True)):
        if row.span is not None and count is not None:
            spans[f"vote_results[{index}].vote_count"] = row.span
    for kind, value in zip(("valid", "rejected", "total"), stats, strict=True):
        if kind in stat_spans and value is not None:
            spans[_STAT_PATHS[kind]] = stat_spans[kind]
    spans = {path: (numbered[line][0], start, end) for path, (line, start, end) in spans.items()}
    header_end = header_index if header_index >= 0 else _rows_start(lines, first_stats)
    return _extraction(lines, header_end, rows, votes, stats), spans


def _extraction(
    lines: list[str], header_end: int, rows: list[_Row], votes: list[int | None], stats: list[int | None]
) -> VoteExtraction:
    return VoteExtraction(
        form=_form_info(lines[: max(header_end, 0)] or lines),
        vote_results=[
            VoteResult(candidate_name=row.name, party=row.party, vote_count=count)
            for row, count in zip(rows, votes, strict=True)
        ],
        ballot_stats=BallotStats(valid_votes=stats[0], rejected_ballots=stats[1], total_ballots=stats[2]),
    )


def _rows_start(lines: list[str], first_stats: int) -> int:
    """Without a table header, the header block ends at the first line that looks like a candidate."""
    for index, line in enumerate(lines[:first_stats]):
        if _HEADER_BLOCK.search(line):
            continue
        cells = _cells(line)
        if any(looks_like_count(c.text) for c in cells) and any(_letters(c.text) >= 3 for c in cells):
            return index
    return first_stats


# --- lines and cells -------------------------------------------------------------------------


def _clean_line(line: str) -> str:
    return line.replace("\t", "    ").rstrip()


def _cells(line: str) -> list[_Cell]:
    cells = []
    position = 0
    for piece in _CELL_SPLIT.split(line):
        start = line.find(piece, position) if piece else position
        position = start + len(piece)
        text = piece.strip()
        if text and text.strip(_NAME_EDGE_JUNK):
            cells.append(_Cell(text=text, start=start, end=start + len(piece)))
    return cells


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def _split_mixed(cells: list[_Cell]) -> list[_Cell]:
    """Split "Jane Doe 1,234" and "1,234 Jane Doe" (columns closer than two spaces) into two cells."""
    out: list[_Cell] = []
    for cell in cells:
        trailing = _TRAILING_COUNT.match(cell.text)
        leading = _LEADING_COUNT.match(cell.text)
        if trailing and looks_like_count(trailing["count"]) and _letters(trailing["text"]) >= 2:
            cut = cell.start + trailing.start("count")
            out += [
                _Cell(trailing["text"].strip(), cell.start, cut),
                _Cell(trailing["count"].strip(), cut, cell.end),
            ]
        elif (
            leading
            and _letters(leading["text"]) >= 2
            and (looks_like_count(leading["count"]) or maybe_zero(leading["count"]))
        ):
            cut = cell.start + leading.start("text")
            out += [
                _Cell(leading["count"].strip(), cell.start, cut),
                _Cell(leading["text"].strip(), cut, cell.end),
            ]
        else:
            out.append(cell)
    return out


# --- table header ----------------------------------------------------------------------------


def _header_kind(text: str) -> str | None:
    stripped = text.strip(_NAME_EDGE_JUNK + " ")
    if _HEAD_NO.match(stripped):
        return "no"
    name = bool(_HEAD_NAME.search(text))
    party = bool(_HEAD_PARTY.search(text))
    if name and party:
        return "name_party"
    if party:
        return "party"
    if name:
        return "name"
    if _HEAD_VOTES.search(text):
        return "votes"
    return None


def _find_table_header(lines: list[str]) -> tuple[int, list[_Column]]:
    """Index of the table's header line and its columns; (-1, []) when there is none."""
    for index, line in enumerate(lines):
        if re.search(r"\d", line.replace("No.", "")) or _too_much_header_block(line):
            continue
        kinds = {_header_kind(c.text) for c in _cells(line)} - {None}
        whole = {
            k for k, rx in (("name", _HEAD_NAME), ("party", _HEAD_PARTY), ("votes", _HEAD_VOTES)) if rx.search(line)
        }
        if len(kinds | whole) >= 2 and ("votes" in whole or "votes" in kinds or "name_party" in kinds):
            return index, _header_columns(_cells(line))
    return -1, []


def _too_much_header_block(line: str) -> bool:
    return bool(re.search(r"constituen|county|polling|station|registered|officer|signature|election", line, re.I))


def _header_columns(cells: list[_Cell]) -> list[_Column]:
    columns: list[_Column] = []
    for cell in cells:
        kind = _header_kind(cell.text)
        if kind == "party" and cell.text.lstrip().startswith("(") and columns and columns[-1].kind == "name":
            # "Candidate   (Party)": one column holding "Jane Doe (NUP)"
            columns[-1] = _Column("name_party", columns[-1].start, cell.end)
            continue
        if kind is None or (columns and columns[-1].kind == kind):
            if columns:  # a header split over two cells ("Party /  Affiliation")
                last = columns[-1]
                columns[-1] = _Column(last.kind, last.start, cell.end)
            continue
        columns.append(_Column(kind, cell.start, cell.end))
    return columns


# --- ballot statistics -----------------------------------------------------------------------


def _stats_kind(line: str) -> str | None:
    words = re.sub(r"[0-9,.]+", " ", line)
    if _NOT_STATS.search(words):
        return None
    if _REJECTED.search(words):
        return "rejected"
    if _VALID.search(words):
        return "valid"
    if _TOTAL.search(words):
        return "total"
    return None


def _find_ballot_stats(
    lines: list[str], *, header_index: int, spans: dict[str, CellSpan] | None = None
) -> tuple[dict[str, list[int | None]], int]:
    """Readings of each statistic and the index of the first statistics line below the table header.

    Lines below the table header are searched first; a summary printed above the table is used
    for what is still missing.
    """
    found: dict[str, list[int | None]] = {}
    first = len(lines)
    below = range(header_index + 1, len(lines))
    above = range(0, max(header_index, 0))
    for index in [*below, *above]:
        line = lines[index]
        kind = _stats_kind(line)
        counts = _count_cells(line)
        if kind is None or (_HEADER_BLOCK.search(line) and not counts):
            continue
        if index > header_index:
            first = min(first, index)
        if kind not in found:
            cells = _cells(line)
            figure = counts[-1] if counts else cells[-1] if len(cells) > 1 and maybe_zero(cells[-1].text) else None
            if counts:
                found[kind] = list(count_readings(counts[-1].text))
            elif figure is not None:
                found[kind] = [None, 0]
            else:
                found[kind] = []
            if figure is not None and spans is not None:
                spans[kind] = (index, figure.start, figure.end)
    return found, first


def _count_cells(line: str) -> list[_Cell]:
    return [c for c in _split_mixed(_cells(line)) if looks_like_count(c.text)]


# --- candidate rows --------------------------------------------------------------------------


def _candidate_rows(lines: list[str], header_index: int, end: int, columns: list[_Column]) -> list[_Row]:
    start = header_index + 1 if header_index >= 0 else _rows_start(lines, end)
    rows: list[_Row] = []
    for index in range(start, end):
        line = lines[index]
        if _FOOTER.search(line):
            break
        cells = _split_mixed(_cells(line))
        if not cells:
            continue
        row = _parse_row(cells, columns, serial=len(rows) + 1, line_index=index)
        if row is None:
            counts = [c for c in cells if looks_like_count(c.text)]
            # a count Tesseract put on its own line belongs to the row above, if that row has none
            if rows and not rows[-1].readings and len(counts) == 1 and len(cells) == 1:
                rows[-1].readings = list(count_readings(counts[0].text))
                rows[-1].span = (index, counts[0].start, counts[0].end)
            continue
        rows.append(row)
    return rows


def _parse_row(cells: list[_Cell], columns: list[_Column], *, serial: int, line_index: int = -1) -> _Row | None:
    texts = [c for c in cells if not looks_like_count(c.text)]
    counts = [c for c in cells if looks_like_count(c.text)]
    texts = [c for c in texts if _letters(c.text) >= 2]
    if not texts or all(_is_header_word(c.text) for c in texts):
        return None
    count = _votes_cell(counts, columns, serial)
    name, party = _name_and_party(texts, columns)
    if not name:
        return None
    if count is not None:
        span = (line_index, count.start, count.end)
        return _Row(name=name, party=party, readings=list(count_readings(count.text)), span=span)
    zero = _zero_like_votes(cells, columns)
    if zero is None:
        return _Row(name=name, party=party, readings=[])
    return _Row(name=name, party=party, readings=[None, 0], span=(line_index, zero.start, zero.end))


def _zero_like_votes(cells: list[_Cell], columns: list[_Column]) -> _Cell | None:
    """A lone ")" or "O" where the votes are: possibly a 0, to be confirmed by the sums."""
    for cell in cells:
        if _letters(cell.text) >= 2 or not maybe_zero(cell.text):
            continue
        if columns:
            nearest = _nearest(cell, columns, tuple(c.kind for c in columns))
            if nearest is not None and nearest.kind == "votes":
                return cell
        elif cell is cells[-1]:
            return cell
    return None


def _is_header_word(text: str) -> bool:
    return _header_kind(text) is not None and len(text.split()) <= 3 and not _PARTY_WORDS.search(text)


def _nearest(cell: _Cell, columns: list[_Column], kinds: tuple[str, ...]) -> _Column | None:
    allowed = [c for c in columns if c.kind in kinds]
    if not allowed:
        return None

    def distance(column: _Column) -> float:
        overlap = min(cell.end, column.end) - max(cell.start, column.start)
        return -overlap if overlap > 0 else abs(cell.centre - column.centre)

    return min(allowed, key=distance)


def _votes_cell(counts: list[_Cell], columns: list[_Column], serial: int) -> _Cell | None:
    if not counts:
        return None
    kinds = {c.kind for c in columns}
    if "votes" in kinds and "no" in kinds:
        votes = [c for c in counts if _nearest(c, columns, ("no", "votes")).kind == "votes"]  # type: ignore[union-attr]
        return votes[-1] if votes else None
    if len(counts) > 1:
        # a row number is a small number counting up from 1
        not_serial = [c for c in counts if count_readings(c.text)[:1] != [serial]]
        counts = not_serial or counts[1:]
        if len(counts) > 1 and "votes" in kinds:
            return min(counts, key=lambda c: abs(c.centre - next(k for k in columns if k.kind == "votes").centre))
    return counts[-1]


def _name_and_party(texts: list[_Cell], columns: list[_Column]) -> tuple[str, str | None]:
    kinds = {c.kind for c in columns}
    if "name_party" in kinds or ("name" in kinds and "party" not in kinds):
        return _split_parenthesised(" ".join(c.text for c in texts))
    if not {"name", "party"} <= kinds:
        if len(texts) >= 2:
            return _split_by_party_words(texts)
        return _split_parenthesised(texts[0].text)
    name_parts: list[str] = []
    party_parts: list[str] = []
    if len(texts) == 2:
        # two text cells and a header with both columns: the header's order decides
        name_first = [c.kind for c in columns if c.kind in ("name", "party")][0] == "name"
        first, second = texts
        name_parts, party_parts = ([first.text], [second.text]) if name_first else ([second.text], [first.text])
    else:
        for cell in texts:
            target = _nearest(cell, columns, ("name", "party"))
            (party_parts if target is not None and target.kind == "party" else name_parts).append(cell.text)
    name, party = _split_parenthesised(" ".join(name_parts))
    party = _clean_party(" ".join(party_parts)) or party
    if not name and party:
        return _clean_name(party), None
    return name, party


def _split_by_party_words(texts: list[_Cell]) -> tuple[str, str | None]:
    """Without a header, the cell that reads like a party ("... Party", "Independent") is the party."""
    scored = [bool(_PARTY_WORDS.search(c.text)) or c.text.isupper() and len(c.text) <= 6 for c in texts]
    if scored.count(True) == 1:
        party_index = scored.index(True)
        name = " ".join(c.text for i, c in enumerate(texts) if i != party_index)
        return _clean_name(name), _clean_party(texts[party_index].text)
    return _clean_name(texts[0].text), _clean_party(" ".join(c.text for c in texts[1:]))


def _split_parenthesised(text: str) -> tuple[str, str | None]:
    match = _NAME_AND_PARTY.match(text)
    if match and _letters(match["party"]) >= 1:
        return _clean_name(match["name"]), _clean_party(match["party"])
    return _clean_name(text), None


def _fix_word(word: str) -> str:
    """Digits inside a word of letters are misread letters ("0tieno" -> "Otieno")."""
    if not any(ch.isdigit() for ch in word) or _letters(word) < 2:
        return word
    upper = word.isupper() or word[:1].isupper() and len(word) > 1 and word[1:2].isupper()
    table = str.maketrans(
        {"0": "O" if upper else "o", "1": "I" if upper else "l", "5": "S" if upper else "s", "8": "B"}
    )
    fixed = word.translate(table)
    if fixed[:1] in "ol" and word[:1] in "01":
        fixed = fixed[:1].upper() + fixed[1:]
    return fixed


def _clean_name(text: str) -> str:
    text = _LEADING_SERIAL.sub("", text.strip())
    text = re.sub(r"^(?:[\d.)]+\s+)+(?=[A-Za-z])", "", text)
    text = text.strip(_NAME_EDGE_JUNK)
    words = [_fix_word(w.strip(_NAME_EDGE_JUNK.replace(".", "").replace("-", ""))) for w in text.split()]
    return " ".join(w for w in words if w)


def _clean_party(text: str) -> str | None:
    text = text.strip(_NAME_EDGE_JUNK.replace(".", "")).strip()
    if re.fullmatch(r"[(\[{].*[)\]}]", text):
        text = text[1:-1].strip()
    if _NO_PARTY.match(text) or _letters(text) == 0:
        return None
    return " ".join(_fix_word(w) for w in text.split())


# --- consistency -----------------------------------------------------------------------------


def _choose_consistent(
    candidate_readings: list[list[int | None]],
    stats_readings: list[list[int | None]],
) -> tuple[list[int | None], list[int | None]]:
    """Pick one reading per count, preferring readings that satisfy the form's arithmetic.

    Constraints: sum(candidates) == valid; valid + rejected == total; and, when valid is
    unreadable, sum(candidates) + rejected == total. Among choices satisfying the most
    constraints, the one with the fewest non-first readings wins.
    """
    primary_votes: list[int | None] = [r[0] if r else None for r in candidate_readings]
    primary_stats: list[int | None] = [r[0] if r else None for r in stats_readings]
    ambiguous = [i for i, r in enumerate(candidate_readings) if len(r) > 1]
    stats_options: list[list[int | None]] = [r if r else [None] for r in stats_readings]
    if not ambiguous and all(len(o) == 1 for o in stats_options):
        return primary_votes, primary_stats

    best: tuple[int, int] | None = None
    chosen = (primary_votes, primary_stats)
    for stats in itertools.islice(itertools.product(*stats_options), _MAX_COMBINATIONS):
        stats_cost = sum(options.index(v) for options, v in zip(stats_options, stats, strict=True))
        for changed in _change_sets(ambiguous):
            for picks in itertools.product(*(candidate_readings[i][1:] for i in changed)):
                votes = list(primary_votes)
                for index, value in zip(changed, picks, strict=True):
                    votes[index] = value
                score = (_satisfied(votes, list(stats)), -(stats_cost + len(changed)))
                if best is None or score > best:
                    best, chosen = score, (votes, list(stats))
    return chosen


def _change_sets(ambiguous: list[int]) -> list[tuple[int, ...]]:
    sets: list[tuple[int, ...]] = [()]
    for size in (1, 2):
        sets += list(itertools.combinations(ambiguous, size))
    return sets


def _satisfied(votes: list[int | None], stats: list[int | None]) -> int:
    valid, rejected, total = stats
    known_sum = sum(v for v in votes if v is not None) if votes and all(v is not None for v in votes) else None
    score = 0
    if known_sum is not None and valid is not None and known_sum == valid:
        score += 1
    if valid is not None and rejected is not None and total is not None and valid + rejected == total:
        score += 1
    if valid is None and known_sum is not None and rejected is not None and total is not None:
        score += int(known_sum + rejected == total)
    return score


def consistency(extraction: VoteExtraction, form_type: FormType | None = None) -> tuple[int, int, int]:
    """How well a reading checks out: (arithmetic checks passed, counts read, candidates found);
    for a typed paper, its type's rules are the checks."""
    if _typed(form_type):
        passed = sum(check.status == "pass" for check in check_rules(form_type, extraction))  # type: ignore[arg-type]
        counts = [r.vote_count for r in extraction.vote_results if r.vote_count is not None]
        read = sum(v is not None for v in extraction.statistics.values()) + len(counts)
        return passed, read, len(extraction.vote_results)
    stats = extraction.ballot_stats
    votes = [r.vote_count for r in extraction.vote_results]
    stats_values = [stats.valid_votes, stats.rejected_ballots, stats.total_ballots]
    read = sum(v is not None for v in votes) + sum(v is not None for v in stats_values)
    return _satisfied(votes, stats_values), read, len(votes)


def is_complete(extraction: VoteExtraction, form_type: FormType | None = None) -> bool:
    """Every count read, and the candidate votes sum to valid, and valid + rejected == total;
    for a typed paper: every statistic read and every rule of its type holds."""
    if _typed(form_type):
        values = extraction.statistics
        if not extraction.vote_results or any(v is None for v in values.values()):
            return False
        return consistency(extraction, form_type)[0] == len(form_type.rules)  # type: ignore[union-attr]
    stats = extraction.ballot_stats
    votes = [r.vote_count for r in extraction.vote_results]
    if not votes or any(v is None for v in votes):
        return False
    return _satisfied(votes, [stats.valid_votes, stats.rejected_ballots, stats.total_ballots]) == 2


# --- form header -----------------------------------------------------------------------------

_FORM_TYPE = re.compile(r"\bform\s*(?:no\.?\s*)?[:.\-]?\s*(?P<code>[0-9OoIl]{1,3}\s?[A-Za-z]?)(?![A-Za-z0-9])", re.I)
_CONSTITUENCY_CODE = re.compile(
    r"constituency\s*(?:code|no\.?|number)\s*[:.\-]?\s*(?P<code>[0-9OoIl]{1,5})\b"
    r"|\bcode\s*(?:no\.?)?\s*[:.\-]?\s*(?P<code2>[0-9OoIl]{1,5})\b",
    re.I,
)
_CONSTITUENCY_NAME = re.compile(
    r"constituency\s*(?:name)?\s*[:.\-]\s*(?P<name>[A-Za-z][A-Za-z'’ .\-]*?)"
    r"(?=\s{2,}|\s*\(|\s+code\b|\s+constituency\b|\s*$)",
    re.I,
)
_NAME_THEN_CONSTITUENCY = re.compile(r"(?P<name>[A-Za-z][A-Za-z'’ .\-]*?)\s+constituency\b", re.I)


_CODE_DIGITS = str.maketrans("OoIl", "0011")


def _digits(text: str) -> str:
    return text.translate(_CODE_DIGITS)


def _form_info(lines: list[str]) -> FormInfo:
    form_type = None
    name = None
    code = None
    for line in lines:
        if form_type is None and (match := _FORM_TYPE.search(line)):
            raw = match["code"].replace(" ", "")
            digits = _digits(raw[:-1]) + raw[-1] if raw[-1:].isalpha() and len(raw) > 1 else _digits(raw)
            if digits[:1].isdigit():
                form_type = f"Form {digits.upper()}"
        if not re.search(r"constituen", line, re.I):
            continue
        if name is None and (match := _CONSTITUENCY_NAME.search(line)):
            candidate = match["name"].strip(" .-")
            if candidate and not re.match(r"(?:code|no|number)\b", candidate, re.I):
                name = candidate
        if name is None and (match := _NAME_THEN_CONSTITUENCY.search(line)):
            name = match["name"].strip(" .-") or None
        if code is None and (match := _CONSTITUENCY_CODE.search(line)):
            code = _digits(match["code"] or match["code2"])
    return FormInfo(constituency_name=name, constituency_code=code, form_type=form_type)
