"""The typed OCR parser on OCR-like text of typed papers (no Tesseract needed): statistics found
by their printed labels, boxed digits, NIL and dashes, words, struck-out figures, and readings
chosen by the type's rules."""

from __future__ import annotations

from shared.form_types.builtin import BUILTIN_FORM_TYPES
from shared.llm.ocr.parser import consistency, is_complete, parse_form_text
from shared.llm.ocr.typed_parser import fold

EC8A = BUILTIN_FORM_TYPES["ng_ec8a"]
BO = BUILTIN_FORM_TYPES["bo_acta"]
KE = BUILTIN_FORM_TYPES["ke_34a"]

EC8A_TEXT = """\
                 INDEPENDENT NATIONAL ELECTORAL COMMISSION (INEC)
                                              FORM EC8A
State: LAGOS  LGA: IKEJA
Polling Unit: RIVERSIDE COMMUNITY CENTRE    Code: 25/11/10/034
1. Number of Voters on the Register                                        427
2. Numbcr of Accredited Voters                                              229
3. Number of Ballot Papers Issued to the Polling Unit                       427
4. Number of Unused Ballot Papers                                          202
5. Number of Spoiled Ballot Papers                                         1
6. Number of Rejected Ballots                                              14
7. Total Number of Valid Votes                                             210
8. Total Number of Used Ballot Papers (H5 + #6 + 47)                       225
 SIN     POLITICAL PARTY              VOTES IN FIGURES          VOTES IN WORDS
 1       A                            128                        ONE HUNDRED AND TWENTY-EIGHT
 2       AA
 3       AAC                          NiL                        NIL
 4       ADC                          -                          NIL
 5       ADP                          3                          THREE
 6       APC
 7       APGA                         6                          SIX
 8       APM                          7O                         SEVENTY
 10      BP                           l3  3                      THREE
Name of Presiding Officer:
"""


def test_ec8a_statistics_are_found_by_label_despite_ocr_errors_and_numbering() -> None:
    # Act
    reading = parse_form_text(EC8A_TEXT, EC8A)

    # Assert
    assert reading.statistics == {
        "registered_voters": 427,
        "accredited_voters": 229,
        "ballots_issued": 427,
        "unused_ballots": 202,
        "spoiled_ballots": 1,
        "rejected_ballots": 14,
        "valid_votes": 210,
        "used_ballots": 225,
    }
    assert reading.form.form_type == "ng_ec8a@1"
    assert reading.ballot_stats.valid_votes is None  # generic's block stays empty on a typed paper


def test_ec8a_rows_read_figures_words_nil_dash_blank_and_a_rewritten_figure() -> None:
    # Act
    reading = parse_form_text(EC8A_TEXT, EC8A)

    # Assert
    rows = {r.party: (r.vote_count, r.vote_count_words) for r in reading.vote_results}
    assert rows == {
        "A": (128, "ONE HUNDRED AND TWENTY-EIGHT"),
        "AA": (None, None),
        "AAC": (0, "NIL"),
        "ADC": (0, "NIL"),
        "ADP": (3, "THREE"),
        "APC": (None, None),
        "APGA": (6, "SIX"),
        "APM": (70, "SEVENTY"),
        "BP": (3, "THREE"),  # "13" struck out, "3" written beside it
    }
    assert all(r.candidate_name == r.party for r in reading.vote_results)
    assert consistency(reading, EC8A)[0] == len(EC8A.rules)
    assert is_complete(reading, EC8A)


def test_bo_boxed_digits_read_as_one_number_and_accents_do_not_matter() -> None:
    # Arrange
    text = """\
Electores habilitados                                                          1   7   2
Papeletas en anfora                                                            1 4  9
Papeletas no utilizadas                                                        0   2   3
 ORGANIZACION POLITICA                                          VOTOS
 AP                                                              0   0   1
 ADN                                                             0  10
 cc                                                              0.1 4
Votos validos                                                                  0   2   5
Votos b1ancos                                                                  1  1  2
Votos nulos                                                                    0  1  2
Observaciones: se recibieron 172 papeletas.
"""

    # Act
    reading = parse_form_text(text, BO)

    # Assert
    assert reading.statistics == {
        "registered_voters": 172,
        "ballots_in_box": 149,
        "unused_ballots": 23,
        "valid_votes": 25,
        "blank_votes": 112,
        "null_votes": 12,
    }
    assert [(r.party, r.vote_count) for r in reading.vote_results] == [("AP", 1), ("ADN", 10), ("CC", 14)]
    assert all(r.vote_count_words is None for r in reading.vote_results)


def test_the_types_rules_choose_among_a_figures_readings() -> None:
    # Arrange: the last candidate's "1O7" could be 107 or, with the stray "1" a grid line, 7
    text = """\
Number of registered voters                                          500
 No.    NAME OF CANDIDATE                             PARTY           VOTES
 1      IMANI OWINO                                   WIPER           47
 2      PAUL SHARMA                                   UDA             142
 3      RUTH KOFI SCHMIDT                             ANC             |7
Total number of rejected ballot papers                              O
Total number of rejection objected to                               0
Total number of disputed votes                                      3
Total number of valid votes cast                                    196
"""

    # Act
    reading = parse_form_text(text, KE)

    # Assert
    assert [(r.candidate_name, r.party, r.vote_count) for r in reading.vote_results] == [
        ("IMANI OWINO", "WIPER", 47),
        ("PAUL SHARMA", "UDA", 142),
        ("RUTH KOFI SCHMIDT", "ANC", 7),
    ]
    assert reading.statistics["rejected_ballots"] == 0  # a handwritten zero read as a letter O
    assert reading.statistics["valid_votes"] == 196


def test_an_unreadable_figure_stays_null_and_a_missing_label_too() -> None:
    # Arrange
    text = """\
Number of registered voters                                          %%$#
 No.    NAME OF CANDIDATE                             PARTY           VOTES
 1      IMANI OWINO                                   WIPER           47
Total number of valid votes cast                                    47
"""

    # Act
    reading = parse_form_text(text, KE)

    # Assert
    assert reading.statistics["registered_voters"] is None
    assert reading.statistics["disputed_votes"] is None
    assert list(reading.statistics) == KE.keys
    assert not is_complete(reading, KE)


def test_labels_are_compared_without_numbering_accents_or_the_sum_note() -> None:
    # Act / Assert
    assert fold("8. Total Number of Used Ballot Papers (#5 + #6 + #7)") == "total number of used ballot papers"
    assert fold("Papeletas en ánfora") == "papeletas en anfora"


def test_a_grid_line_remnant_before_a_candidates_name_is_not_taken_for_the_name() -> None:
    # Arrange
    text = """\
 No.    NAME OF CANDIDATE                             PARTY           VOTES
 1   L  AGNES THABO MOREAU                            ANC             146
Total number of valid votes cast                                    146
"""

    # Act
    reading = parse_form_text(text, KE)

    # Assert
    assert [(r.candidate_name, r.party, r.vote_count) for r in reading.vote_results] == [
        ("AGNES THABO MOREAU", "ANC", 146)
    ]
