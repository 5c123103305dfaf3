"""What each built-in form type's paper prints besides its statistics: header lines, the table's
column headings, the parties or candidates it lists, and how its figures are written.

The statistics' labels are not here: they come from the form type (`FormType.label`), so a paper
prints exactly what its type says it prints.
"""

from __future__ import annotations

from dataclasses import dataclass

# INEC's registered parties as Form EC8A lists them (2023), in the paper's order.
NG_PARTIES: tuple[str, ...] = (
    "A", "AA", "AAC", "ADC", "ADP", "APC", "APGA", "APM", "APP", "BP", "LP", "NNPP", "NRM", "PDP",
    "PRP", "SDP", "YPP", "ZLP",
)  # fmt: skip
BO_PARTIES: tuple[str, ...] = (
    "AP", "ADN", "APB SUMATE", "LIBRE", "FP", "MAS-IPSP", "MORENA", "UNIDAD", "PDC", "CC", "CREEMOS", "FPV",
)  # fmt: skip
KE_PARTIES: tuple[str, ...] = ("UDA", "AZIMIO", "ROOTS", "AGANO", "ANC", "WIPER")

NG_STATES = ("LAGOS", "KANO", "RIVERS", "OYO", "KADUNA", "ENUGU", "ANAMBRA", "BENUE")
NG_AREAS = ("IKEJA", "NASSARAWA", "OBIO/AKPOR", "IBADAN NORTH", "ZARIA", "NSUKKA", "AWKA SOUTH", "MAKURDI")
BO_DEPARTMENTS = ("La Paz", "Cochabamba", "Santa Cruz", "Oruro", "Potosi", "Tarija", "Chuquisaca", "Beni")
BO_MUNICIPALITIES = ("El Alto", "Quillacollo", "Montero", "Caracollo", "Uyuni", "Yacuiba", "Sucre", "Riberalta")
BO_SCHOOLS = ("Unidad Educativa Simon Bolivar", "Colegio Nacional Ayacucho", "Unidad Educativa Juan Misael Saracho")
KE_COUNTIES = ("NAKURU", "KISUMU", "MOMBASA", "NYERI", "KAKAMEGA", "MACHAKOS", "KIAMBU", "TURKANA")


@dataclass(frozen=True)
class PaperStyle:
    """How one form type's paper looks."""

    titles: tuple[str, ...]  # centred lines at the top
    table_headings: tuple[str, ...]  # the candidate table's column headings, left to right
    stats_before_table: tuple[str, ...]  # statistic keys printed above the candidate table
    boxed_digits: int = 0  # >0: figures are written one digit per printed box, this many boxes
    has_words: bool = False  # a "votes in words" column
    blank_rows: bool = False  # parties without votes are left blank (most rows on EC8A)
    crossed_out: bool = False  # a clerk may strike a figure and write it again beside it
    names_are_parties: bool = False  # rows are parties only (no candidate names)
    footer: tuple[str, ...] = (
        "Name of Presiding Officer: ____________________",
        "Signature and Stamp: ____________________",
    )


PAPER_STYLES: dict[str, PaperStyle] = {
    "ng_ec8a": PaperStyle(
        titles=(
            "INDEPENDENT NATIONAL ELECTORAL COMMISSION (INEC)",
            "FORM EC8A",
            "STATEMENT OF RESULT OF POLL FROM POLLING UNIT",
        ),
        table_headings=("S/N", "POLITICAL PARTY", "VOTES IN FIGURES", "VOTES IN WORDS"),
        stats_before_table=(
            "registered_voters",
            "accredited_voters",
            "ballots_issued",
            "unused_ballots",
            "spoiled_ballots",
            "rejected_ballots",
            "valid_votes",
            "used_ballots",
        ),  # fmt: skip
        has_words=True,
        blank_rows=True,
        crossed_out=True,
        names_are_parties=True,
    ),
    "bo_acta": PaperStyle(
        titles=(
            "ORGANO ELECTORAL PLURINACIONAL",
            "ACTA ELECTORAL DE ESCRUTINIO Y CONTEO",
            "ELECCIONES GENERALES",
        ),
        table_headings=("ORGANIZACION POLITICA", "VOTOS"),
        stats_before_table=("registered_voters", "ballots_in_box", "unused_ballots"),
        boxed_digits=3,
        names_are_parties=True,
        footer=("Presidente de mesa: ____________________", "Firma y sello: ____________________"),
    ),
    "ke_34a": PaperStyle(
        titles=(
            "INDEPENDENT ELECTORAL AND BOUNDARIES COMMISSION",
            "FORM 34A",
            "PRESIDENTIAL ELECTION RESULTS AT THE POLLING STATION",
        ),
        table_headings=("No.", "NAME OF CANDIDATE", "PARTY", "VOTES"),
        stats_before_table=("registered_voters",),
        crossed_out=True,
    ),
}

# Handwriting-like fonts, relative to /usr/share/fonts (Debian fonts-comic-neue, fonts-humor-sans,
# fonts-dkg-handwriting; infra/local/apt-packages.txt). Figures are written in Comic Neue, the one
# whose digits Tesseract reads (60 of 60 test figures, against about half for Humor Sans and
# fewer for dkg, whose bare "1" it drops and whose "4" it takes for a "y"); words, which it reads
# in all three, in any. A missing font is skipped; with none, a printed font writes by hand.
FIGURE_FONTS: tuple[str, ...] = (
    "opentype/comic-neue/ComicNeue-Regular.otf",
    "opentype/comic-neue/ComicNeue-Bold.otf",
    "opentype/comic-neue/ComicNeue-Italic.otf",
)
WORDS_FONTS: tuple[str, ...] = (
    "opentype/comic-neue/ComicNeue-Regular.otf",
    "truetype/humor-sans/Humor-Sans.ttf",
    "truetype/fifthhorseman/dkg.ttf",
)
FALLBACK_HAND_FONT = "truetype/dejavu/DejaVuSansMono.ttf"
PRINTED_FONTS: tuple[tuple[str, str], ...] = (
    ("truetype/dejavu/DejaVuSans.ttf", "truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("truetype/liberation/LiberationSans-Regular.ttf", "truetype/liberation/LiberationSans-Bold.ttf"),
    ("truetype/dejavu/DejaVuSerif.ttf", "truetype/dejavu/DejaVuSerif-Bold.ttf"),
)
