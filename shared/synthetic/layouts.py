"""The layouts a synthetic form can take: each fixes a look and lets the seed vary the rest.

Development layouts are the ones the OCR parser may be tuned on. Holdout layouts differ in fonts
(Liberation and FreeFont instead of DejaVu), column orders (votes before names, a combined
"Name (Party)" column, no party column), label wordings, separators (space, dot) and header
lines (registered voters, county codes), so a score on them estimates how the parser does on
forms from another generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FONT_DIR = Path("/usr/share/fonts/truetype")

# family -> (regular, bold), relative to FONT_DIR; Debian packages in infra/local/apt-packages.txt
FONT_FAMILIES: dict[str, tuple[str, str]] = {
    "dejavu-sans": ("dejavu/DejaVuSans.ttf", "dejavu/DejaVuSans-Bold.ttf"),
    "dejavu-sans-condensed": ("dejavu/DejaVuSansCondensed.ttf", "dejavu/DejaVuSansCondensed-Bold.ttf"),
    "dejavu-serif": ("dejavu/DejaVuSerif.ttf", "dejavu/DejaVuSerif-Bold.ttf"),
    "dejavu-serif-condensed": ("dejavu/DejaVuSerifCondensed.ttf", "dejavu/DejaVuSerifCondensed-Bold.ttf"),
    "dejavu-mono": ("dejavu/DejaVuSansMono.ttf", "dejavu/DejaVuSansMono-Bold.ttf"),
    "liberation-sans": ("liberation/LiberationSans-Regular.ttf", "liberation/LiberationSans-Bold.ttf"),
    "liberation-serif": ("liberation/LiberationSerif-Regular.ttf", "liberation/LiberationSerif-Bold.ttf"),
    "liberation-narrow": (
        "liberation/LiberationSansNarrow-Regular.ttf",
        "liberation/LiberationSansNarrow-Bold.ttf",
    ),
    "free-sans": ("freefont/FreeSans.ttf", "freefont/FreeSansBold.ttf"),
    "free-serif": ("freefont/FreeSerif.ttf", "freefont/FreeSerifBold.ttf"),
    "free-mono": ("freefont/FreeMono.ttf", "freefont/FreeMonoBold.ttf"),
}

# Column kinds: "no" (row number), "name", "party", "votes", "name_party" ("Jane Doe (NUP)").
COLUMN_KINDS = ("no", "name", "party", "votes", "name_party")


@dataclass(frozen=True)
class LayoutStyle:
    """What a layout fixes; where a field is a tuple, the seed picks one entry per form."""

    fonts: tuple[str, ...]
    column_orders: tuple[tuple[str, ...], ...]
    grids: tuple[str, ...]  # "full", "rows", "frame", "none"
    separators: tuple[str, ...]  # thousands separators: ",", " ", ".", ""
    valid_labels: tuple[str, ...]
    rejected_labels: tuple[str, ...]
    total_labels: tuple[str, ...]
    column_headers: tuple[tuple[str, tuple[str, ...]], ...]
    stats_in_table: tuple[bool, ...] = (True, False)
    header_formats: tuple[str, ...] = ("split", "inline")
    upper_names: tuple[bool, ...] = (False,)
    party_abbreviations: tuple[bool, ...] = (False,)
    votes_right_aligned: tuple[bool, ...] = (True, False)
    registered_line: bool = False
    blank_independent: bool = False  # an independent's party cell shows a dash; truth party is null

    def header_wordings(self, kind: str) -> tuple[str, ...]:
        return dict(self.column_headers)[kind]


_DEV_HEADERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("no", ("No.", "S/N")),
    ("name", ("Candidate", "Name of Candidate", "Candidate Name")),
    ("party", ("Party", "Political Party")),
    ("votes", ("Votes", "Votes Obtained", "No. of Votes")),
    ("name_party", ("Candidate (Party)",)),
)

LAYOUTS: dict[str, LayoutStyle] = {
    "ruled_sans": LayoutStyle(
        fonts=("dejavu-sans",),
        column_orders=(("no", "name", "party", "votes"), ("name", "party", "votes")),
        grids=("full",),
        separators=(",",),
        valid_labels=("Total valid votes", "Valid votes"),
        rejected_labels=("Rejected ballots", "Rejected votes"),
        total_labels=("Total ballots cast", "Total votes cast"),
        column_headers=_DEV_HEADERS,
        stats_in_table=(True,),
    ),
    "plain_serif": LayoutStyle(
        fonts=("dejavu-serif", "dejavu-serif-condensed"),
        column_orders=(("name", "party", "votes"), ("party", "name", "votes")),
        grids=("none", "rows"),
        separators=("", ","),
        valid_labels=("Valid votes", "Valid ballots"),
        rejected_labels=("Rejected", "Rejected ballots"),
        total_labels=("Total", "Total ballots"),
        column_headers=_DEV_HEADERS,
        stats_in_table=(False,),
        party_abbreviations=(False, True),
    ),
    "mono_ledger": LayoutStyle(
        fonts=("dejavu-mono",),
        column_orders=(("name", "votes", "party"), ("no", "name", "votes", "party")),
        grids=("rows", "frame"),
        separators=(" ", ","),
        valid_labels=("Valid votes", "Total valid"),
        rejected_labels=("Invalid", "Rejected"),
        total_labels=("Ballots cast", "Total ballots"),
        column_headers=_DEV_HEADERS,
        header_formats=("inline", "stacked"),
    ),
    "condensed_grid": LayoutStyle(
        fonts=("dejavu-sans-condensed", "dejavu-sans"),
        column_orders=(("party", "name", "votes"), ("no", "party", "name", "votes")),
        grids=("full", "frame"),
        separators=("", " "),
        valid_labels=("VALID VOTES", "Total valid votes"),
        rejected_labels=("SPOILT", "Spoilt ballots"),
        total_labels=("TOTAL BALLOTS", "Ballots in box"),
        column_headers=_DEV_HEADERS,
        upper_names=(True, False),
        party_abbreviations=(True, False),
    ),
    # Holdout: do not tune the parser on these.
    "liberation_votes_first": LayoutStyle(
        fonts=("liberation-sans", "liberation-serif"),
        column_orders=(("votes", "name", "party"), ("no", "votes", "party", "name")),
        grids=("full",),
        separators=(" ",),
        valid_labels=("Valid votes cast", "Valid ballot papers"),
        rejected_labels=("Spoilt ballot papers", "Invalid ballots"),
        total_labels=("Ballots in the box", "Total ballot papers"),
        column_headers=(
            ("no", ("#", "Ser.")),
            ("name", ("Name", "Candidate's name")),
            ("party", ("Affiliation", "Party / Affiliation")),
            ("votes", ("Votes received", "Result")),
        ),
        header_formats=("stacked",),
        registered_line=True,
        blank_independent=True,
    ),
    "freeserif_report": LayoutStyle(
        fonts=("free-serif", "free-sans"),
        column_orders=(("party", "votes", "name"), ("name", "votes")),
        grids=("none",),
        separators=(".", ","),
        valid_labels=("Number of valid votes", "Total number of valid votes"),
        rejected_labels=("Number of rejected ballot papers", "Rejected ballot papers"),
        total_labels=("Total number of ballots cast", "Total votes cast"),
        column_headers=(
            ("name", ("Candidate", "Name")),
            ("party", ("Party", "Sponsoring party")),
            ("votes", ("Votes", "Total votes")),
        ),
        stats_in_table=(False,),
        header_formats=("stacked", "split"),
        registered_line=True,
    ),
    "narrow_combined": LayoutStyle(
        fonts=("liberation-narrow", "free-mono"),
        column_orders=(("no", "name_party", "votes"), ("name_party", "votes")),
        grids=("rows", "full"),
        separators=(",",),
        valid_labels=("Total valid", "Valid"),
        rejected_labels=("Rejected/Spoilt", "Invalid ballots"),
        total_labels=("Grand total", "Total ballots"),
        column_headers=(
            ("no", ("No", "Item")),
            ("name_party", ("Candidate (Party)", "Name and party")),
            ("votes", ("Votes", "Score")),
        ),
        upper_names=(True,),
        party_abbreviations=(True,),
        header_formats=("inline", "stacked"),
    ),
}

DEVELOPMENT_LAYOUTS: tuple[str, ...] = ("ruled_sans", "plain_serif", "mono_ledger", "condensed_grid")
HOLDOUT_LAYOUTS: tuple[str, ...] = ("liberation_votes_first", "freeserif_report", "narrow_combined")
