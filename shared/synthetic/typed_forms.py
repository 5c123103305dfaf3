"""Result papers of every built-in form type, with the truth each shows (`render_form`).

`generic` is the existing generator (`forms.generate_form`), unchanged for the same seed; the
other types are drawn here as their papers look: the type's printed labels in the paper's
language, figures in a handwriting-like font, one digit per printed box on `bo_acta`, figures and
words on `ng_ec8a` with most party rows blank and "NIL" or a dash for zero, and sometimes a
figure struck out and written again beside it.

A paper can be made wrong on purpose, as real ones are: `breaks_rule` names one of the type's
rules that its numbers then fail (the others still hold where the arithmetic allows), and
`words_mismatch` writes one row's words for another number than its figures.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from dataclasses import dataclass, field
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from shared.form_types.checks import check_rules
from shared.form_types.model import GENERIC, FormType
from shared.form_types.resolve import builtin_form_type
from shared.models import BallotStats, FormInfo, VoteExtraction, VoteResult
from shared.synthetic import forms as generic_forms
from shared.synthetic import papers
from shared.synthetic import vocabulary as vocab
from shared.synthetic.forms import Degradation
from shared.synthetic.layouts import FONT_DIR
from shared.synthetic.number_words import number_to_words

_FONTS_ROOT = FONT_DIR.parent  # /usr/share/fonts: handwriting fonts come as truetype and opentype
_MARGIN = 80
_INK = 0
_PEN = 35  # handwriting is a little lighter than print
_BOX_GREY = 215  # printed digit boxes, in a light tint as on the real acta (colour print, scanned grey)


@dataclass(frozen=True)
class RenderedForm:
    """One paper of a form type: its image bytes and the extraction a perfect reader returns."""

    form_type: str  # the type's ref, e.g. "ng_ec8a@1"
    seed: int
    image: bytes
    content_type: str
    truth: VoteExtraction
    breaks_rule: str | None = None
    words_mismatch_row: str | None = None  # the row whose words differ from its figures
    degradation: Degradation = field(default_factory=Degradation)


@dataclass
class _Row:
    name: str
    party: str
    votes: int | None  # None: left blank
    zero_as: str = "0"  # how a zero is written in figures: "0", "NIL", "-"
    words: str | None = None  # as written, on papers with words
    crossed: int | None = None  # a figure struck out before this one was written


def render_form(
    form_type: FormType | str,
    *,
    seed: int = 0,
    breaks_rule: str | None = None,
    words_mismatch: bool = False,
    degradation: Degradation = Degradation(),  # noqa: B008 - frozen, so a shared default is safe
) -> RenderedForm:
    """Render one paper of `form_type` (a built-in FormType or its name/ref); the same arguments
    always give the same bytes and truth.

    Raises:
        ValueError: an unknown type, a rule the type does not have, or words asked of a type
            without a words column.
    """
    form = builtin_form_type(form_type) if isinstance(form_type, str) else form_type
    if form is None or form.name not in {GENERIC, *papers.PAPER_STYLES}:
        known = ", ".join([GENERIC, *papers.PAPER_STYLES])
        raise ValueError(f"render_form draws the built-in form types ({known}), not {form_type!r}")
    if breaks_rule is not None and breaks_rule not in {r.id for r in form.rules}:
        raise ValueError(f"{form.ref} has no rule {breaks_rule!r}; its rules: {', '.join(r.id for r in form.rules)}")
    if words_mismatch and not form.figures_in_words:
        raise ValueError(f"{form.ref} has no words column, so its words cannot differ from its figures")
    if form.name == GENERIC:
        return _render_generic(form, seed, breaks_rule, degradation)
    rng = random.Random(f"typed:{form.name}:{seed}")
    style = papers.PAPER_STYLES[form.name]
    statistics, rows = _NUMBERS[form.name](rng)
    if breaks_rule is not None:
        _break(form, breaks_rule, statistics, rows)
    _write_rows(rng, form, style, rows)
    mismatch = _mismatch_words(rng, form, rows) if words_mismatch else None
    info = _header_info(rng, form.name)
    truth = VoteExtraction(
        form=FormInfo(constituency_name=info["place"], constituency_code=info["code"], form_type=form.ref),
        vote_results=[
            VoteResult(
                candidate_name=row.name,
                party=row.party,
                vote_count=row.votes,
                vote_count_words=row.words if style.has_words else None,
            )
            for row in rows
        ],
        statistics=dict(statistics),
    )
    page = _draw_paper(rng, form, style, statistics, rows, info)
    image, content_type = generic_forms._degrade(page, degradation, seed)
    return RenderedForm(form.ref, seed, image, content_type, truth, breaks_rule, mismatch, degradation)


# --- generic ---------------------------------------------------------------------------------


def _render_generic(form: FormType, seed: int, breaks_rule: str | None, degradation: Degradation) -> RenderedForm:
    if breaks_rule is None:
        made = generic_forms.generate_form(seed, degradation=degradation)
        truth = made.truth
    else:  # the same draw as generate_form, with its statistics made to fail the rule
        layout = generic_forms.DEVELOPMENT_LAYOUTS[
            random.Random(f"layout:{seed}").randrange(len(generic_forms.DEVELOPMENT_LAYOUTS))
        ]
        rng = random.Random(f"form:{seed}:{layout}:None")
        style = generic_forms.LAYOUTS[layout]
        content = generic_forms._draw_content(rng, style, None)
        statistics = content.truth.ballot_stats.model_dump()
        rows = [_Row(r.candidate_name, r.party or "", r.vote_count) for r in content.truth.vote_results]
        _break(form, breaks_rule, statistics, rows)
        results = [
            r.model_copy(update={"vote_count": row.votes})
            for r, row in zip(content.truth.vote_results, rows, strict=True)
        ]
        truth = content.truth.model_copy(update={"ballot_stats": BallotStats(**statistics), "vote_results": results})
        candidates = tuple(
            dataclasses.replace(c, votes=row.votes or 0) for c, row in zip(content.candidates, rows, strict=True)
        )
        content = dataclasses.replace(content, truth=truth, candidates=candidates)
        page, _ = generic_forms._render(rng, style, content)
        image, content_type = generic_forms._degrade(page, degradation, seed)
        made = generic_forms.SyntheticForm(seed, layout, image, content_type, truth, degradation)
    truth = truth.model_copy(update={"statistics": truth.ballot_stats.model_dump()})
    return RenderedForm(form.ref, seed, made.image, made.content_type, truth, breaks_rule, None, degradation)


# --- numbers ---------------------------------------------------------------------------------


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """`total` shared among `parts` unevenly (a few large, some small), summing exactly."""
    weights = [rng.random() ** 2 + 0.01 for _ in range(parts)]
    shares = [int(total * w / sum(weights)) for w in weights]
    shares[max(range(parts), key=lambda i: weights[i])] += total - sum(shares)
    return shares


def _ng_numbers(rng: random.Random) -> tuple[dict[str, int | None], list[_Row]]:
    registered = rng.randint(300, 1400)
    parties = papers.NG_PARTIES[: rng.randint(16, 18)]
    active = sorted(rng.sample(range(len(parties)), rng.randint(3, 6)))
    valid = int(registered * rng.uniform(0.15, 0.5))
    shares = _split(rng, valid, len(active))
    rows = []
    for index, party in enumerate(parties):
        votes = shares[active.index(index)] if index in active else None
        rows.append(_Row(party, party, votes))
    for row in rng.sample(rows, 2):  # a party or two marked as scoring nothing
        if row.votes is None:
            row.votes = 0
    rejected, spoiled = rng.randint(0, 15), rng.randint(0, 8)
    accredited = min(registered, valid + rejected + rng.randint(0, 12))
    used = spoiled + rejected + valid
    statistics: dict[str, int | None] = {
        "registered_voters": registered,
        "accredited_voters": accredited,
        "ballots_issued": registered,
        "unused_ballots": registered - used,
        "spoiled_ballots": spoiled,
        "rejected_ballots": rejected,
        "valid_votes": valid,
        "used_ballots": used,
    }
    return statistics, rows


def _bo_numbers(rng: random.Random) -> tuple[dict[str, int | None], list[_Row]]:
    registered = rng.randint(150, 300)
    in_box = int(registered * rng.uniform(0.7, 0.95))
    blank, null = rng.randint(0, 9), rng.randint(0, 12)
    valid = in_box - blank - null
    parties = [p for p in papers.BO_PARTIES if rng.random() < 0.75][:9] or list(papers.BO_PARTIES[:6])
    shares = _split(rng, valid, len(parties))
    rows = [_Row(party, party, votes) for party, votes in zip(parties, shares, strict=True)]
    statistics: dict[str, int | None] = {
        "registered_voters": registered,
        "ballots_in_box": in_box,
        "unused_ballots": registered - in_box,
        "valid_votes": valid,
        "blank_votes": blank,
        "null_votes": null,
    }
    return statistics, rows


def _ke_numbers(rng: random.Random) -> tuple[dict[str, int | None], list[_Row]]:
    registered = rng.randint(200, 700)
    valid = int(registered * rng.uniform(0.5, 0.85))
    count = rng.randint(3, 5)
    parties = rng.sample(papers.KE_PARTIES, count)
    names = generic_forms._unique_names(rng, count)
    rows = [
        _Row(name.upper(), party, votes)
        for name, party, votes in zip(names, parties, _split(rng, valid, count), strict=True)
    ]
    rejected = rng.randint(0, 10)
    statistics: dict[str, int | None] = {
        "registered_voters": registered,
        "rejected_ballots": rejected,
        "rejected_objected": rng.randint(0, min(rejected, 2)),
        "disputed_votes": rng.randint(0, 3),
        "valid_votes": valid,
    }
    return statistics, rows


_NUMBERS = {"ng_ec8a": _ng_numbers, "bo_acta": _bo_numbers, "ke_34a": _ke_numbers}


def _break(form: FormType, rule_id: str, statistics: dict[str, int | None], rows: list[_Row]) -> None:
    """Change one or two numbers so that `rule_id` fails and as few other rules as possible do.

    Tries a row's count and each statistic the rule names, alone or with a second statistic
    moved the other way (so `used = spoiled + rejected + valid` can break while
    `issued = unused + used` still holds); the smallest change among the cleanest wins.
    """
    counted = next(row for row in rows if row.votes)
    rule = next(r for spec, r in form.parsed_rules if spec.id == rule_id)
    _, left, right = rule.check(statistics, sum(r.votes or 0 for r in rows))
    gap = abs((left or 0) - (right or 0)) + 1
    deltas = sorted({1, 2, 5, gap, gap + 3}) + [-d for d in sorted({1, 2, 5, gap, gap + 3})]
    targets = ["row", *sorted(rule.keys)]
    best: tuple[tuple[int, int], list[tuple[str, int]]] | None = None
    for target, delta in itertools.product(targets, deltas):
        seconds: list[tuple[str, int] | None] = [None] + [(k, -delta) for k in form.keys if k != target]
        for second in seconds:
            changes = [(target, delta)] + ([second] if second else [])
            trial = dict(statistics)
            votes = counted.votes or 0
            for key, change in changes:
                if key == "row":
                    votes += change
                else:
                    trial[key] = (trial[key] or 0) + change
            if votes < 0 or any(v is not None and v < 0 for v in trial.values()):
                continue
            total = sum(r.votes or 0 for r in rows) - (counted.votes or 0) + votes
            verdicts = _verdicts(form, trial, total)
            if verdicts.get(rule_id) != "fail":
                continue
            score = (sum(v == "fail" for v in verdicts.values()), len(changes) * 1000 + abs(delta))
            if best is None or score < best[0]:
                best = (score, changes)
    if best is None:
        raise ValueError(f"cannot make a {form.ref} paper that fails {rule_id}")
    for key, change in best[1]:
        if key == "row":
            counted.votes = (counted.votes or 0) + change
        else:
            statistics[key] = (statistics[key] or 0) + change


def _verdicts(form: FormType, statistics: dict[str, int | None], total: int) -> dict[str, str]:
    reading = VoteExtraction(statistics=statistics, vote_results=[VoteResult(candidate_name="x", vote_count=total)])
    return {check.rule: check.status for check in check_rules(form, reading)}


# --- how the clerk writes each row -----------------------------------------------------------


def _write_rows(rng: random.Random, form: FormType, style: papers.PaperStyle, rows: list[_Row]) -> None:
    for row in rows:
        if row.votes == 0 and style.blank_rows:
            row.zero_as = rng.choice(("NIL", "-", "0"))
        if style.has_words and row.votes is not None:
            row.words = "NIL" if row.votes == 0 and row.zero_as != "0" else number_to_words(row.votes, "en").upper()
    if style.crossed_out and rng.random() < 0.5:
        row = rng.choice([r for r in rows if r.votes])
        row.crossed = (row.votes or 0) + rng.choice((-10, -1, 1, 10, 100))
        row.crossed = row.crossed if row.crossed > 0 else (row.votes or 0) + 1


def _mismatch_words(rng: random.Random, form: FormType, rows: list[_Row]) -> str:
    row = rng.choice([r for r in rows if r.votes and r.crossed is None] or [r for r in rows if r.votes])
    said = (row.votes or 0) + rng.choice((-1, 1, 10))
    row.words = number_to_words(max(said, 0) if said != row.votes else said + 1, form.language).upper()
    return row.name


def _header_info(rng: random.Random, name: str) -> dict[str, str]:
    if name == "ng_ec8a":
        state, area = rng.choice(papers.NG_STATES), rng.choice(papers.NG_AREAS)
        code = f"{rng.randint(1, 37):02d}/{rng.randint(1, 30):02d}/{rng.randint(1, 15):02d}/{rng.randint(1, 40):03d}"
        place = rng.choice(vocab.POLLING_STATIONS).upper()
        lines = [f"State: {state}    LGA: {area}", f"Polling Unit: {place}    Code: {code}"]
        election = rng.choice(("PRESIDENTIAL ELECTION", "GOVERNORSHIP ELECTION", "SENATORIAL ELECTION"))
        return {"place": place, "code": code, "lines": "\n".join([election, *lines])}
    if name == "bo_acta":
        place = rng.choice(papers.BO_SCHOOLS)
        code = f"{rng.randint(10000, 99999)}"
        lines = [
            f"Departamento: {rng.choice(papers.BO_DEPARTMENTS)}    Municipio: {rng.choice(papers.BO_MUNICIPALITIES)}",
            f"Recinto: {place}    Mesa: {code}",
        ]
        return {"place": place, "code": code, "lines": "\n".join(lines)}
    place = rng.choice(vocab.POLLING_STATIONS).upper()
    code = f"{rng.randint(1, 290):03d}"
    lines = [
        f"County: {rng.choice(papers.KE_COUNTIES)}    Constituency: {rng.choice(vocab.CONSTITUENCIES).upper()}",
        f"Polling Station: {place}    Code: {code}",
    ]
    return {"place": place, "code": code, "lines": "\n".join(lines)}


# --- drawing ---------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(_FONTS_ROOT / path), size)


def _installed(fonts: tuple[str, ...]) -> list[str]:
    """The handwriting fonts installed, in order; the printed fallback when none is."""
    found = [p for p in fonts if (_FONTS_ROOT / p).exists()]
    return found or [papers.FALLBACK_HAND_FONT]


class _Sheet:
    def __init__(self, width: int, height: int) -> None:
        self.image = Image.new("L", (width, height), 255)
        self.draw = ImageDraw.Draw(self.image)
        self.width = width
        self.y = _MARGIN

    def text(self, xy: tuple[float, float], text: str, font: ImageFont.FreeTypeFont, *, fill: int = _INK,
             anchor: str = "lm") -> None:  # fmt: skip
        self.draw.text(xy, text, font=font, fill=fill, anchor=anchor)

    def hline(self, y: int, x0: int, x1: int, width: int = 2) -> None:
        self.draw.line([(x0, y), (x1, y)], fill=_INK, width=width)

    def vline(self, x: int, y0: int, y1: int, width: int = 2) -> None:
        self.draw.line([(x, y0), (x, y1)], fill=_INK, width=width)


@dataclass
class _Pens:
    regular: ImageFont.FreeTypeFont
    bold: ImageFont.FreeTypeFont
    title: ImageFont.FreeTypeFont
    hand: ImageFont.FreeTypeFont
    words: ImageFont.FreeTypeFont
    line: int


def _draw_paper(
    rng: random.Random,
    form: FormType,
    style: papers.PaperStyle,
    statistics: dict[str, int | None],
    rows: list[_Row],
    info: dict[str, str],
) -> Image.Image:
    regular_path, bold_path = rng.choice(papers.PRINTED_FONTS)
    size = rng.randint(25, 29)
    hand, words = rng.choice(_installed(papers.FIGURE_FONTS)), rng.choice(_installed(papers.WORDS_FONTS))
    pens = _Pens(
        regular=_font(regular_path, size),
        bold=_font(bold_path, size),
        title=_font(bold_path, int(size * 1.2)),
        hand=_font(hand, int(size * rng.uniform(1.3, 1.45))),
        words=_font(words, int(size * 1.05)),
        line=int(size * rng.uniform(1.9, 2.2)),
    )
    sheet = _Sheet(rng.randint(1650, 1800), 4000)
    for title in style.titles:
        sheet.text((sheet.width // 2, sheet.y + pens.line // 2), title, pens.title, anchor="mm")
        sheet.y += int(pens.line * 1.1)
    for line in info["lines"].split("\n"):
        sheet.text((_MARGIN, sheet.y + pens.line // 2), line, pens.regular)
        sheet.y += pens.line
    sheet.y += pens.line // 2
    figure_x = int(sheet.width * rng.uniform(0.68, 0.74))
    before = [k for k in form.keys if k in style.stats_before_table]
    after = [k for k in form.keys if k not in style.stats_before_table]
    _draw_statistics(rng, sheet, form, style, pens, before, statistics, figure_x)
    sheet.y += pens.line // 2
    _draw_table(rng, sheet, style, pens, rows)
    sheet.y += pens.line // 2
    _draw_statistics(rng, sheet, form, style, pens, after, statistics, figure_x)
    if form.name == "bo_acta":
        sheet.y += pens.line // 2
        note = rng.choice(
            ("Sin observaciones.", f"Observaciones: se recibieron {statistics['registered_voters']} papeletas.")
        )
        sheet.text((_MARGIN, sheet.y + pens.line // 2), note, pens.regular)
        sheet.y += pens.line
    sheet.y += pens.line
    for line in style.footer:
        sheet.text((_MARGIN, sheet.y + pens.line // 2), line, pens.regular)
        sheet.y += pens.line
    sheet.y += _MARGIN
    return sheet.image.crop((0, 0, sheet.width, sheet.y))


def _draw_statistics(
    rng: random.Random,
    sheet: _Sheet,
    form: FormType,
    style: papers.PaperStyle,
    pens: _Pens,
    keys: list[str],
    statistics: dict[str, int | None],
    figure_x: int,
) -> None:
    for key in keys:
        middle = sheet.y + pens.line // 2
        sheet.text((_MARGIN, middle), form.label(key), pens.regular)
        _figure(rng, sheet, style, pens, figure_x, middle, statistics[key], "0")
        sheet.y += pens.line


def _figure(
    rng: random.Random,
    sheet: _Sheet,
    style: papers.PaperStyle,
    pens: _Pens,
    x: int,
    middle: int,
    value: int | None,
    zero_as: str,
    crossed: int | None = None,
) -> None:
    """Write one figure by hand at x: in boxes, after a struck-out one, or as NIL / a dash."""
    if style.boxed_digits:
        _boxed(rng, sheet, pens, x, middle, value, style.boxed_digits)
        return
    if value is None:
        return
    if crossed is not None:
        width = _write(rng, sheet, pens, x, middle, str(crossed))
        sheet.draw.line([(x - 6, middle + 6), (x + width + 6, middle - 4)], fill=_PEN, width=4)
        x = int(x + width + pens.hand.size * 0.8)
    _write(rng, sheet, pens, x, middle, zero_as if value == 0 else str(value))


def _write(rng: random.Random, sheet: _Sheet, pens: _Pens, x: int, middle: int, text: str) -> int:
    """Write `text` by hand, one character at a time a little apart and off the line (a clerk's
    digits do not touch); returns the width written."""
    start = x = x + rng.randint(-4, 4)
    for char in text:
        y = middle + rng.randint(-2, 2)
        sheet.text((x, y), char, pens.hand, fill=_PEN)
        x += int(pens.hand.getlength(char) + pens.hand.size * rng.uniform(0.06, 0.12))
    return x - start


def _boxed(rng: random.Random, sheet: _Sheet, pens: _Pens, x: int, middle: int, value: int | None, boxes: int) -> None:
    side = int(pens.hand.size * 1.35)
    top = middle - side // 2
    for index in range(boxes):
        left = x + index * side
        sheet.draw.rectangle([left, top, left + side, top + side], outline=_BOX_GREY, width=2)
    if value is None:
        return
    digits = f"{value:0{boxes}d}"
    for index, digit in enumerate(digits[-boxes:] if len(digits) <= boxes else digits):
        centre = x + index * side + side // 2 + rng.randint(-3, 3)
        sheet.text((centre, middle + rng.randint(-2, 2)), digit, pens.hand, fill=_PEN, anchor="mm")


def _draw_table(rng: random.Random, sheet: _Sheet, style: papers.PaperStyle, pens: _Pens, rows: list[_Row]) -> None:
    headings = style.table_headings
    width = sheet.width - 2 * _MARGIN
    shares = {
        2: (0.6, 0.4),
        3: (0.1, 0.5, 0.4),
        4: (0.08, 0.27, 0.25, 0.4) if style.has_words else (0.08, 0.5, 0.17, 0.25),
    }[len(headings)]
    edges = [_MARGIN]
    for share in shares:
        edges.append(edges[-1] + int(width * share))
    row_height = int(pens.line * (1.25 if style.boxed_digits else 1.05))
    top = sheet.y
    y = top
    for index, heading in enumerate(headings):
        sheet.text((edges[index] + 12, y + row_height // 2), heading, pens.bold)
    y += row_height
    figures_column = headings.index(next(h for h in headings if "VOT" in h))
    for serial, row in enumerate(rows, start=1):
        middle = y + row_height // 2
        cells = {"S/N": str(serial), "No.": str(serial)}
        column = 0
        for index, heading in enumerate(headings):
            if heading in cells:
                sheet.text((edges[index] + 12, middle), cells[heading], pens.regular)
                column = index + 1
        sheet.text((edges[column] + 12, middle), row.name, pens.regular)
        if not style.names_are_parties:
            sheet.text((edges[column + 1] + 12, middle), row.party, pens.regular)
        _figure(rng, sheet, style, pens, edges[figures_column] + 20, middle, row.votes, row.zero_as, row.crossed)
        if style.has_words and row.words:
            sheet.text((edges[figures_column + 1] + 14, middle + rng.randint(-3, 3)), row.words, pens.words, fill=_PEN)
        y += row_height
    for line_y in range(top, y + 1, row_height):
        sheet.hline(line_y, edges[0], edges[-1], pens.line // 20 or 2)
    for x in edges:
        sheet.vline(x, top, y)
    sheet.y = y
