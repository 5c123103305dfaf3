"""Deterministic synthetic election result forms: a rendered image and the truth it shows.

The same arguments always give byte-identical image bytes and the same truth, so a form can be
regenerated from its seed instead of being stored.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from shared.models import BallotStats, FormInfo, VoteExtraction, VoteResult
from shared.synthetic import vocabulary as vocab
from shared.synthetic.layouts import (
    DEVELOPMENT_LAYOUTS,
    FONT_DIR,
    FONT_FAMILIES,
    HOLDOUT_LAYOUTS,
    LAYOUTS,
    LayoutStyle,
)

__all__ = [
    "DEVELOPMENT_LAYOUTS",
    "HOLDOUT_LAYOUTS",
    "Degradation",
    "SyntheticForm",
    "generate_form",
    "generate_forms",
]

MIN_CANDIDATES = 3
MAX_CANDIDATES = 12


@dataclass(frozen=True)
class Degradation:
    """How to make a clean rendering look photographed (applied in this order)."""

    rotation_deg: float = 0.0
    blur_sigma: float = 0.0
    jpeg_quality: int | None = None  # set: the image bytes are JPEG at this quality
    scale: float = 1.0
    noise_std: float = 0.0  # Gaussian noise, in grey levels (0-255)


@dataclass(frozen=True)
class SyntheticForm:
    """One generated form: its image bytes and the extraction a perfect reader would return."""

    seed: int
    layout: str
    image: bytes
    content_type: str
    truth: VoteExtraction
    degradation: Degradation = field(default_factory=Degradation)
    # Where each count was drawn, by field path (`vote_results[0].vote_count`,
    # `ballot_stats.valid_votes`): (left, top, right, bottom) in pixels of `image` (a rotated
    # page: the upright box around the turned figure).
    figure_boxes: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)


def generate_form(
    seed: int,
    *,
    layout: str | None = None,
    degradation: Degradation = Degradation(),  # noqa: B008 - frozen, so a shared default is safe
    candidates: int | None = None,
) -> SyntheticForm:
    """Render one form; the same arguments always give the same bytes and truth.

    Args:
        seed: Chooses everything not fixed by the other arguments.
        layout: One of DEVELOPMENT_LAYOUTS or HOLDOUT_LAYOUTS; None picks a development layout
            from the seed (holdout layouts are only used when asked for by name).
        degradation: Rotation, blur, scale, noise and JPEG compression to apply.
        candidates: How many candidates (3 to 12); None picks from the seed.

    Returns:
        The form's image bytes (PNG, or JPEG when degradation.jpeg_quality is set) and truth.
    """
    if layout is None:
        layout = DEVELOPMENT_LAYOUTS[random.Random(f"layout:{seed}").randrange(len(DEVELOPMENT_LAYOUTS))]
    if layout not in LAYOUTS:
        known = ", ".join(DEVELOPMENT_LAYOUTS + HOLDOUT_LAYOUTS)
        raise ValueError(f"Unknown layout {layout!r}; use one of: {known}.")
    if candidates is not None and not MIN_CANDIDATES <= candidates <= MAX_CANDIDATES:
        raise ValueError(f"candidates must be between {MIN_CANDIDATES} and {MAX_CANDIDATES}, not {candidates}.")
    rng = random.Random(f"form:{seed}:{layout}:{candidates}")
    style = LAYOUTS[layout]
    content = _draw_content(rng, style, candidates)
    page, figures = _render(rng, style, content)
    image, content_type = _degrade(page, degradation, seed)
    return SyntheticForm(
        seed=seed,
        layout=layout,
        image=image,
        content_type=content_type,
        truth=content.truth,
        degradation=degradation,
        figure_boxes={path: _degraded_box(box, page.size, degradation) for path, box in figures.items()},
    )


def generate_forms(
    count: int,
    *,
    start_seed: int = 0,
    layouts: Sequence[str] | None = None,
    degradation: Degradation = Degradation(),  # noqa: B008 - frozen, so a shared default is safe
) -> list[SyntheticForm]:
    """Render `count` forms with seeds start_seed, start_seed + 1, ...

    Layouts rotate through `layouts` in order (None: DEVELOPMENT_LAYOUTS), so every layout is
    represented in even a small batch.
    """
    chosen = tuple(layouts) if layouts is not None else DEVELOPMENT_LAYOUTS
    if not chosen:
        raise ValueError("layouts must name at least one layout.")
    return [
        generate_form(start_seed + i, layout=chosen[i % len(chosen)], degradation=degradation) for i in range(count)
    ]


# --- content -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    name: str
    party: str | None  # as the truth has it
    party_printed: str  # as the form shows it
    votes: int


@dataclass(frozen=True)
class _Content:
    truth: VoteExtraction
    candidates: tuple[_Candidate, ...]
    column_order: tuple[str, ...]
    county: str
    county_code: str
    polling_station: str
    date: str
    registered: int
    official: str
    commission: str
    election: str


def _draw_content(rng: random.Random, style: LayoutStyle, count: int | None) -> _Content:
    count = count if count is not None else rng.randint(MIN_CANDIDATES, MAX_CANDIDATES)
    abbreviate = rng.choice(style.party_abbreviations)
    order = rng.choice(style.column_orders)
    shows_party = any(kind in ("party", "name_party") for kind in order)
    names = _unique_names(rng, count)
    parties = rng.sample(vocab.PARTIES, k=min(count, len(vocab.PARTIES)))
    scale = rng.choice((900, 6_000, 40_000, 160_000))
    weights = [rng.random() ** 2.2 + 0.002 for _ in range(count)]
    weight_sum = sum(weights)
    candidates: list[_Candidate] = []
    for index, name in enumerate(names):
        votes = int(round(scale * weights[index] / weight_sum * rng.uniform(0.8, 1.2)))
        if rng.random() < 0.04:
            votes = 0
        independent = rng.random() < 0.15 or index >= len(parties)
        if not shows_party:
            party, printed = None, ""
        elif independent and style.blank_independent:
            party, printed = None, "-"
        elif independent:
            party = printed = vocab.INDEPENDENT
        else:
            full, short = parties[index]
            party = full if not abbreviate else short
            printed = party
        candidates.append(_Candidate(name=name, party=party, party_printed=printed, votes=votes))
    valid = sum(c.votes for c in candidates)
    rejected = int(round(valid * rng.uniform(0.0, 0.035)))
    total = valid + rejected
    registered = int(round(total / rng.uniform(0.45, 0.9)))
    constituency = rng.choice(vocab.CONSTITUENCIES)
    code = f"{rng.randint(1, 290):03d}"
    form_type = rng.choice(vocab.FORM_TYPES)
    truth = VoteExtraction(
        form=FormInfo(constituency_name=constituency, constituency_code=code, form_type=form_type),
        vote_results=[VoteResult(candidate_name=c.name, party=c.party, vote_count=c.votes) for c in candidates],
        ballot_stats=BallotStats(valid_votes=valid, rejected_ballots=rejected, total_ballots=total),
    )
    return _Content(
        truth=truth,
        candidates=tuple(candidates),
        column_order=order,
        county=rng.choice(vocab.COUNTIES),
        county_code=f"{rng.randint(1, 47):03d}",
        polling_station=rng.choice(vocab.POLLING_STATIONS),
        date=f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.choice((2017, 2022, 2027))}",
        registered=registered,
        official=" ".join(_unique_names(rng, 1)),
        commission=rng.choice(vocab.COMMISSIONS),
        election=rng.choice(vocab.ELECTIONS),
    )


def _unique_names(rng: random.Random, count: int) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        parts = [rng.choice(vocab.FIRST_NAMES)]
        if rng.random() < 0.35:
            parts.append(rng.choice(vocab.FIRST_NAMES))
        parts.append(rng.choice(vocab.SURNAMES))
        name = " ".join(parts)
        if len(set(parts)) == len(parts) and name not in names:
            names.append(name)
    return names


# --- rendering -----------------------------------------------------------------------------

_MARGIN = 90


@dataclass
class _Fonts:
    regular: ImageFont.FreeTypeFont
    bold: ImageFont.FreeTypeFont
    title: ImageFont.FreeTypeFont


def _load_fonts(family: str, size: int) -> _Fonts:
    regular_path, bold_path = (FONT_DIR / p for p in FONT_FAMILIES[family])
    for path in (regular_path, bold_path):
        if not path.exists():
            raise FileNotFoundError(
                f"Font {path} is missing; install the Debian packages in infra/local/apt-packages.txt."
            )
    return _Fonts(
        regular=ImageFont.truetype(str(regular_path), size),
        bold=ImageFont.truetype(str(bold_path), size),
        title=ImageFont.truetype(str(bold_path), int(size * 1.25)),
    )


def _format_count(value: int, separator: str) -> str:
    return f"{value:,}".replace(",", separator)


class _Page:
    """A tall white canvas with a y cursor; cropped to what was drawn."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.image = Image.new("L", (width, 6000), 255)
        self.draw = ImageDraw.Draw(self.image)
        self.y = _MARGIN
        self.figures: dict[str, tuple[float, float, float, float]] = {}  # where each count was drawn

    def figure(self, path: str, xy: tuple[int, int], text: str, font: ImageFont.FreeTypeFont, anchor: str) -> None:
        """Draw a count and remember where it went."""
        self.draw.text(xy, text, font=font, fill=0, anchor=anchor)
        self.figures[path] = self.draw.textbbox(xy, text, font=font, anchor=anchor)

    def widen(self, width: int) -> None:
        """Make room for a table wider than the page (long names in a large font)."""
        if width <= self.width:
            return
        wider = Image.new("L", (width, self.image.height), 255)
        wider.paste(self.image, (0, 0))
        self.width, self.image, self.draw = width, wider, ImageDraw.Draw(wider)

    def text_line(
        self,
        parts: Sequence[tuple[str, ImageFont.FreeTypeFont, str]],
        *,
        height: int,
    ) -> None:
        """Draw one line of text pieces, each aligned "left", "centre" or "right"."""
        middle = self.y + height // 2
        for text, font, align in parts:
            if align == "left":
                self.draw.text((_MARGIN, middle), text, font=font, fill=0, anchor="lm")
            elif align == "right":
                self.draw.text((self.width - _MARGIN, middle), text, font=font, fill=0, anchor="rm")
            else:
                self.draw.text((self.width // 2, middle), text, font=font, fill=0, anchor="mm")
        self.y += height

    def cropped(self) -> Image.Image:
        return self.image.crop((0, 0, self.width, self.y + _MARGIN))


def _render(
    rng: random.Random, style: LayoutStyle, content: _Content
) -> tuple[Image.Image, dict[str, tuple[float, float, float, float]]]:
    width = rng.randint(1650, 1950)
    family = rng.choice(style.fonts)
    size = rng.randint(27, 34)
    order = content.column_order
    page = _Page(width)
    fonts = _load_fonts(family, size)
    line_height = int(size * rng.uniform(1.6, 2.0))
    _render_header(page, rng, style, content, fonts, line_height)
    page.y += line_height // 2
    separator = rng.choice(style.separators)
    stats_in_table = rng.choice(style.stats_in_table)
    upper = rng.choice(style.upper_names)
    table = _Table.build(rng, style, content, order, fonts, separator, stats_in_table, upper, width)
    page.widen(sum(table.widths) + 2 * _MARGIN)
    table.draw(page, rng.choice(style.grids), line_width=rng.choice((2, 2, 3)))
    page.y += line_height // 2
    if not stats_in_table:
        _render_stats_block(page, rng, style, content, fonts, separator, line_height)
    page.y += line_height
    _render_footer(page, rng, content, fonts, line_height)
    return page.cropped(), page.figures


def _render_header(
    page: _Page,
    rng: random.Random,
    style: LayoutStyle,
    content: _Content,
    fonts: _Fonts,
    line_height: int,
) -> None:
    form = content.truth.form
    header_format = rng.choice(style.header_formats)
    title_height = int(line_height * 1.2)
    page.text_line([(content.commission.upper(), fonts.title, "centre")], height=title_height)
    if header_format == "split":
        page.text_line(
            [(f"{(form.form_type or '').upper()}: DECLARATION OF RESULTS", fonts.bold, "centre")],
            height=line_height,
        )
        page.text_line([(content.election, fonts.regular, "centre")], height=line_height)
        page.y += line_height // 3
        page.text_line(
            [
                (f"Constituency: {form.constituency_name}", fonts.regular, "left"),
                (f"Code: {form.constituency_code}", fonts.regular, "right"),
            ],
            height=line_height,
        )
        page.text_line(
            [
                (f"Polling Station: {content.polling_station}", fonts.regular, "left"),
                (f"Date: {content.date}", fonts.regular, "right"),
            ],
            height=line_height,
        )
    elif header_format == "inline":
        page.text_line(
            [
                (form.form_type or "", fonts.bold, "left"),
                (content.election, fonts.regular, "right"),
            ],
            height=line_height,
        )
        page.y += line_height // 3
        page.text_line(
            [
                (
                    f"Constituency Name: {form.constituency_name}    Constituency Code: {form.constituency_code}",
                    fonts.regular,
                    "left",
                )
            ],
            height=line_height,
        )
        page.text_line(
            [(f"County: {content.county}    Date of election: {content.date}", fonts.regular, "left")],
            height=line_height,
        )
    else:
        page.text_line([(f"{content.election} - {form.form_type}", fonts.bold, "centre")], height=line_height)
        page.y += line_height // 3
        for text in (
            f"County: {content.county} ({content.county_code})",
            f"Constituency: {form.constituency_name}",
            f"Constituency code: {form.constituency_code}",
            f"Polling station: {content.polling_station}",
        ):
            page.text_line([(text, fonts.regular, "left")], height=line_height)
    if style.registered_line:
        separator = rng.choice(style.separators)
        page.text_line(
            [(f"Registered voters: {_format_count(content.registered, separator)}", fonts.regular, "left")],
            height=line_height,
        )


def _render_stats_block(
    page: _Page,
    rng: random.Random,
    style: LayoutStyle,
    content: _Content,
    fonts: _Fonts,
    separator: str,
    line_height: int,
) -> None:
    stats = content.truth.ballot_stats
    labels = _stats_labels(rng, style)
    values = (stats.valid_votes, stats.rejected_ballots, stats.total_ballots)
    colon = rng.choice((":", ""))
    tab_stop = rng.choice((None, int(page.width * 0.55)))
    for field_name, label, value in zip(_STAT_FIELDS, labels, values, strict=True):
        number = _format_count(value or 0, separator)
        path = f"ballot_stats.{field_name}"
        middle = page.y + line_height // 2
        if tab_stop is None:
            page.draw.text((_MARGIN, middle), f"{label}{colon} {number}", font=fonts.regular, fill=0, anchor="lm")
            after_label = (round(_MARGIN + fonts.regular.getlength(f"{label}{colon} ")), middle)
            page.figures[path] = page.draw.textbbox(after_label, number, font=fonts.regular, anchor="lm")
        else:
            page.draw.text((_MARGIN, middle), f"{label}{colon}", font=fonts.regular, fill=0, anchor="lm")
            page.figure(path, (tab_stop, middle), number, fonts.bold, "lm")
        page.y += line_height


_STAT_FIELDS = ("valid_votes", "rejected_ballots", "total_ballots")


def _stats_labels(rng: random.Random, style: LayoutStyle) -> tuple[str, str, str]:
    return rng.choice(style.valid_labels), rng.choice(style.rejected_labels), rng.choice(style.total_labels)


def _render_footer(page: _Page, rng: random.Random, content: _Content, fonts: _Fonts, line_height: int) -> None:
    title = rng.choice(vocab.OFFICIAL_TITLES)
    page.text_line(
        [
            (f"{title}: {content.official}", fonts.regular, "left"),
            ("Signature: ______________", fonts.regular, "right"),
        ],
        height=line_height,
    )
    page.text_line(
        [
            (
                f"Date: {content.date}    Time: {rng.randint(6, 23):02d}:{rng.randint(0, 59):02d}",
                fonts.regular,
                "left",
            )
        ],
        height=line_height,
    )


@dataclass
class _Table:
    kinds: tuple[str, ...]
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]
    stats: list[tuple[str, str]]  # (label, value) rows inside the table
    widths: list[int]
    row_height: int
    pad: int
    right_votes: bool
    fonts: _Fonts
    left: int

    @classmethod
    def build(
        cls,
        rng: random.Random,
        style: LayoutStyle,
        content: _Content,
        order: tuple[str, ...],
        fonts: _Fonts,
        separator: str,
        stats_in_table: bool,
        upper: bool,
        page_width: int,
    ) -> _Table:
        headers = tuple(rng.choice(style.header_wordings(kind)) for kind in order)
        rows: list[tuple[str, ...]] = []
        for number, candidate in enumerate(content.candidates, start=1):
            name = candidate.name.upper() if upper else candidate.name
            cells = {
                "no": f"{number}",
                "name": name,
                "party": candidate.party_printed,
                "votes": _format_count(candidate.votes, separator),
                "name_party": f"{name} ({candidate.party_printed})" if candidate.party_printed else name,
            }
            rows.append(tuple(cells[kind] for kind in order))
        stats_rows: list[tuple[str, str]] = []
        if stats_in_table:
            numbers = content.truth.ballot_stats
            labels = _stats_labels(rng, style)
            values = (numbers.valid_votes, numbers.rejected_ballots, numbers.total_ballots)
            stats_rows = [(label, _format_count(v or 0, separator)) for label, v in zip(labels, values, strict=True)]
        pad = int(fonts.regular.size * rng.uniform(0.6, 1.0))
        widths = []
        for index, kind in enumerate(order):
            cell_widths = [fonts.bold.getlength(headers[index])] + [fonts.regular.getlength(r[index]) for r in rows]
            if kind == "votes":
                cell_widths += [fonts.bold.getlength(value) for _, value in stats_rows]
            widths.append(int(max(cell_widths)) + 2 * pad)
        table = cls(
            kinds=order,
            headers=headers,
            rows=rows,
            stats=stats_rows,
            widths=widths,
            row_height=int(fonts.regular.size * rng.uniform(1.7, 2.2)),
            pad=pad,
            right_votes=rng.choice(style.votes_right_aligned),
            fonts=fonts,
            left=_MARGIN,
        )
        table._fit_labels()
        available = page_width - 2 * _MARGIN
        if rng.random() < 0.6:
            widen = order.index("name_party") if "name_party" in order else order.index("name")
            table.widths[widen] += max(0, available - sum(table.widths))
        return table

    def _label_span(self) -> list[int]:
        votes = self.kinds.index("votes")
        before = list(range(votes))
        after = list(range(votes + 1, len(self.kinds)))
        # the label goes on the side of the names, as a clerk would write it
        has_name = any(self.kinds[i] in ("name", "name_party") for i in before)
        return before if has_name or not after else after

    def _fit_labels(self) -> None:
        if not self.stats:
            return
        span = self._label_span()
        need = max(self.fonts.bold.getlength(label) for label, _ in self.stats) + 2 * self.pad
        have = sum(self.widths[i] for i in span)
        if need > have:
            self.widths[span[-1]] += int(need - have) + 1

    def draw(self, page: _Page, grid: str, *, line_width: int) -> None:
        draw = page.draw
        top = page.y
        edges = [self.left]
        for width in self.widths:
            edges.append(edges[-1] + width)
        y = top
        row_tops = []
        all_rows: list[tuple[tuple[str, ...], bool]] = [(self.headers, True)] + [(r, False) for r in self.rows]
        for position, (cells, is_header) in enumerate(all_rows):
            row_tops.append(y)
            font = self.fonts.bold if is_header else self.fonts.regular
            for index, text in enumerate(cells):
                path = None if is_header or self.kinds[index] != "votes" else f"vote_results[{position - 1}].vote_count"
                self._cell(page, edges, index, y, text, font, is_header, path)
            y += self.row_height
        stats_top = y
        span = self._label_span()
        votes = self.kinds.index("votes")
        for field_name, (label, value) in zip(_STAT_FIELDS, self.stats, strict=False):
            row_tops.append(y)
            middle = y + self.row_height // 2
            draw.text((edges[span[0]] + self.pad, middle), label, font=self.fonts.bold, fill=0, anchor="lm")
            self._cell(page, edges, votes, y, value, self.fonts.bold, False, f"ballot_stats.{field_name}")
            y += self.row_height
        bottom = y
        right = edges[-1]
        if grid == "none":
            page.y = bottom
            return
        horizontal = [top, bottom]
        if grid in ("full", "rows"):
            horizontal += row_tops[1:]
        else:
            horizontal += [row_tops[1]] + ([stats_top] if self.stats else [])
        for h in sorted(set(horizontal)):
            draw.line([(self.left, h), (right, h)], fill=0, width=line_width)
        verticals: list[tuple[int, int, int]] = []  # x, from, to
        if grid in ("full", "frame"):
            verticals += [(self.left, top, bottom), (right, top, bottom)]
        if grid == "full":
            for index in range(1, len(edges) - 1):
                in_span = index - 1 in span and index in span
                verticals.append((edges[index], top, stats_top if in_span else bottom))
        for x, y0, y1 in verticals:
            draw.line([(x, y0), (x, y1)], fill=0, width=line_width)
        page.y = bottom

    def _cell(
        self,
        page: _Page,
        edges: list[int],
        index: int,
        top: int,
        text: str,
        font: ImageFont.FreeTypeFont,
        is_header: bool,
        path: str | None = None,
    ) -> None:
        """One cell's text; a count (`path` names its field) is remembered where it was drawn."""
        middle = top + self.row_height // 2
        kind = self.kinds[index]
        if kind == "votes" and self.right_votes and not is_header:
            xy, anchor = (edges[index + 1] - self.pad, middle), "rm"
        elif kind == "no" and not is_header:
            xy, anchor = ((edges[index] + edges[index + 1]) // 2, middle), "mm"
        else:
            xy, anchor = (edges[index] + self.pad, middle), "lm"
        if path is None:
            page.draw.text(xy, text, font=font, fill=0, anchor=anchor)
        else:
            page.figure(path, xy, text, font, anchor)


# --- degradation ---------------------------------------------------------------------------


def _degraded_box(
    box: tuple[float, float, float, float], size: tuple[int, int], degradation: Degradation
) -> tuple[int, int, int, int]:
    """Where a box drawn on the clean page lies once `_degrade` scaled and turned the page."""
    scale = degradation.scale
    width, height = max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
    corners = [(x * scale, y * scale) for x in (box[0], box[2]) for y in (box[1], box[3])]
    if degradation.rotation_deg:
        # PIL turns counter-clockwise about the centre and grows the canvas to fit (expand=True)
        theta = math.radians(degradation.rotation_deg)
        cos, sin = math.cos(theta), math.sin(theta)
        turned_w = abs(width * cos) + abs(height * sin)
        turned_h = abs(height * cos) + abs(width * sin)
        corners = [
            (
                turned_w / 2 + (x - width / 2) * cos + (y - height / 2) * sin,
                turned_h / 2 - (x - width / 2) * sin + (y - height / 2) * cos,
            )
            for x, y in corners
        ]
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    return round(min(xs)), round(min(ys)), round(max(xs)), round(max(ys))


def _degrade(page: Image.Image, degradation: Degradation, seed: int) -> tuple[bytes, str]:
    image = page
    if degradation.scale != 1.0:
        size = (
            max(1, round(image.width * degradation.scale)),
            max(1, round(image.height * degradation.scale)),
        )
        image = image.resize(size, Image.Resampling.LANCZOS)
    if degradation.rotation_deg:
        image = image.rotate(degradation.rotation_deg, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    if degradation.blur_sigma > 0:
        image = image.filter(ImageFilter.GaussianBlur(radius=degradation.blur_sigma))
    if degradation.noise_std > 0:
        noise = np.random.default_rng(seed).normal(0.0, degradation.noise_std, size=(image.height, image.width))
        pixels = np.asarray(image, dtype=np.float32) + noise
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    if degradation.jpeg_quality is not None:
        image.save(buffer, format="JPEG", quality=degradation.jpeg_quality)
        return buffer.getvalue(), "image/jpeg"
    image.save(buffer, format="PNG")
    return buffer.getvalue(), "image/png"
