"""The OCR text parser on hand-written, OCR-like text (no Tesseract needed)."""

from __future__ import annotations

from shared.llm.ocr.numbers import count_readings
from shared.llm.ocr.parser import parse_form_text
from shared.models import VoteExtraction

HEADER_BLOCK = """\
              INDEPENDENT ELECTORAL COMMISSION
              FORM 34A: DECLARATION OF RESULTS
Constituency: Green Valley                                   Code: 212
Polling Station: Chief's Camp                         Date: 16/08/2017
"""
FOOTER = """\
Returning Officer: Adebayo Mwangi                           Signature:
Date: 16/08/2017  Time: 08:53
"""


def votes_of(extraction: VoteExtraction) -> dict[str, int | None]:
    return {r.candidate_name: r.vote_count for r in extraction.vote_results}


def stats_of(extraction: VoteExtraction) -> tuple[int | None, int | None, int | None]:
    s = extraction.ballot_stats
    return s.valid_votes, s.rejected_ballots, s.total_ballots


def test_name_party_votes_with_comma_separators_and_stats_in_table() -> None:
    # Arrange
    text = (
        HEADER_BLOCK
        + """\
 Candidate                  Political Party               Votes Obtained
 Rose Aisha Kilonzo         Social Democratic Front       538
 Kofi Yusuf Kilonzo         Patriotic Front               1,442
 Moses Mensah               Independent                   4
 Total valid votes                                        1,984
 Rejected votes                                           9
 Total ballots cast                                       1,993
"""
        + FOOTER
    )

    # Act
    result = parse_form_text(text)

    # Assert
    assert votes_of(result) == {"Rose Aisha Kilonzo": 538, "Kofi Yusuf Kilonzo": 1442, "Moses Mensah": 4}
    assert [r.party for r in result.vote_results] == [
        "Social Democratic Front",
        "Patriotic Front",
        "Independent",
    ]
    assert stats_of(result) == (1984, 9, 1993)


def test_header_block_gives_form_info() -> None:
    # Arrange
    text = HEADER_BLOCK + " Candidate     Party      Votes\n Jane Doe      NUP        10\n Valid votes   10\n"

    # Act
    result = parse_form_text(text)

    # Assert
    assert result.form.constituency_name == "Green Valley"
    assert result.form.constituency_code == "212"
    assert result.form.form_type == "Form 34A"


def test_inline_constituency_name_and_code() -> None:
    # Arrange
    text = (
        "Form 35B                                   County Assembly Election\n"
        "Constituency Name: Gatundu South   Constituency Code: O21\n"
        " Candidate     Party      Votes\n Jane Doe      NUP        10\n"
    )

    # Act
    result = parse_form_text(text)

    # Assert
    assert (result.form.constituency_name, result.form.constituency_code, result.form.form_type) == (
        "Gatundu South",
        "021",
        "Form 35B",
    )


def test_party_before_name_column_order() -> None:
    # Arrange
    text = """\
 Party                         Candidate                 Votes
 Patriotic Front               Amina Waweru              12
 Justice and Development Party Kwame Ochieng  1608
 Independent                   Otieno Sharma             87
Valid votes 1707
Rejected 45
Total 1752
"""

    # Act
    result = parse_form_text(text.replace("Party Kwame", "Party  Kwame"))

    # Assert
    assert votes_of(result) == {"Amina Waweru": 12, "Kwame Ochieng": 1608, "Otieno Sharma": 87}
    assert result.vote_results[1].party == "Justice and Development Party"
    assert stats_of(result) == (1707, 45, 1752)


def test_votes_first_with_serial_numbers_and_space_separators() -> None:
    # Arrange
    text = """\
County: Mombasa (035)
Registered voters: 265 643
  Ser.   Result     Affiliation                   Candidate's name
   1     22 359     Farmers and Workers Union     Charles Awuor
   2     10 386     Democratic Reform Movement    Adebayo Barasa
   3        227     -                             Elena Gitau
  Valid ballot papers: 32 972
  Invalid ballots: 2 690
  Ballots in the box: 35 662
"""

    # Act
    result = parse_form_text(text)

    # Assert
    assert votes_of(result) == {"Charles Awuor": 22359, "Adebayo Barasa": 10386, "Elena Gitau": 227}
    assert [r.party for r in result.vote_results] == [
        "Farmers and Workers Union",
        "Democratic Reform Movement",
        None,
    ]
    assert stats_of(result) == (32972, 2690, 35662)


def test_name_votes_party_order_with_spoilt_and_ballots_cast_labels() -> None:
    # Arrange
    text = """\
 S/N   Name of Candidate             No. of Votes   Party
  1    Ruth Barasa                            65  Citizens Coalition
  2    Grace Hansen                          314  Independent
  3    Elena Kofi Novak                        0  Farmers and Workers Union
 Valid votes                                 379
 Spoilt                                        2
 Ballots cast                                381
"""

    # Act
    result = parse_form_text(text)

    # Assert
    assert votes_of(result) == {"Ruth Barasa": 65, "Grace Hansen": 314, "Elena Kofi Novak": 0}
    assert result.vote_results[2].party == "Farmers and Workers Union"
    assert stats_of(result) == (379, 2, 381)


def test_combined_name_and_party_column_with_parenthesised_party() -> None:
    # Arrange
    text = """\
  No   Candidate (Party)                          Score
   1   ESTHER WAMBUI (JDP)                       16,309
   2   ACHIENG MBITHI (Independent)              12,794
   3   RUTH AWUOR                                   495
  Valid                                          29,598
  Rejected/Spoilt                                 1,185
  Grand total                                    30,783
"""

    # Act
    result = parse_form_text(text)

    # Assert
    assert votes_of(result) == {"ESTHER WAMBUI": 16309, "ACHIENG MBITHI": 12794, "RUTH AWUOR": 495}
    assert [r.party for r in result.vote_results] == ["JDP", "Independent", None]
    assert stats_of(result) == (29598, 1185, 30783)


def test_label_wordings_valid_ballots_spoilt_total_ballots() -> None:
    # Arrange
    text = """\
 Candidate      Party     Votes
 Jane Doe       NUP       100
 John Roe       PPA       50
Total valid ballots: 150
Spoilt ballots: 3
Total ballots: 153
"""

    # Act
    result = parse_form_text(text)

    # Assert
    assert stats_of(result) == (150, 3, 153)


def test_valid_votes_and_ballots_in_box_labels() -> None:
    # Arrange
    text = """\
 Candidate      Party     Votes
 Jane Doe       NUP       100
 John Roe       PPA       50
VALID VOTES     150
INVALID         3
Ballots in box  153
"""

    # Act
    result = parse_form_text(text)

    # Assert
    assert stats_of(result) == (150, 3, 153)


def test_no_separator_and_two_numbers_in_different_columns_stay_apart() -> None:
    # Arrange: the serial number and the votes are two cells, "1 234" inside one cell is one number
    text = """\
 No.  Candidate        Votes        Party
 1    Jane Doe         1 234        NUP
 2    John Roe         5678         PPA
 3    Ann Poe          12           Independent
 Valid votes           6924
"""

    # Act
    result = parse_form_text(text)

    # Assert
    assert votes_of(result) == {"Jane Doe": 1234, "John Roe": 5678, "Ann Poe": 12}
    assert stats_of(result)[0] == 6924


def test_ocr_noise_letters_for_digits_and_grid_remnants() -> None:
    # Arrange
    text = """\
| Candidate        | Party           | Votes    |
| Jane Doe         | NUP             | 1,O45    |
| John Roe         | PPA             | l2       |
| Ann Poe          | Independent     | 3S0      |
| Total valid votes                  | 1,4O7    |
| Rejected                           | O        |
| Total                              | 1,407    |
"""

    # Act
    result = parse_form_text(text)

    # Assert
    assert votes_of(result) == {"Jane Doe": 1045, "John Roe": 12, "Ann Poe": 350}
    assert stats_of(result) == (1407, 0, 1407)


def test_stray_grid_line_is_resolved_by_the_sums() -> None:
    # Arrange: "l538" is either 1538 or 538 with a grid line; only 538 makes the sums agree
    text = """\
 Candidate        Party           Votes
 Jane Doe         NUP             l538
 John Roe         PPA             100
 Valid votes                      638
 Rejected                         2
 Total                            640
"""

    # Act
    result = parse_form_text(text)

    # Assert
    assert votes_of(result) == {"Jane Doe": 538, "John Roe": 100}


def test_unreadable_vote_becomes_null_not_inferred() -> None:
    # Arrange: the sums would allow 0 for Ann Poe but the cell reads as nothing like a number
    text = """\
 Candidate        Party           Votes
 Jane Doe         NUP             538
 John Roe         PPA             100
 Ann Poe          Independent     ###
 Valid votes                      638
 Rejected                         ~~
 Total                            640
"""

    # Act
    result = parse_form_text(text)

    # Assert
    assert votes_of(result) == {"Jane Doe": 538, "John Roe": 100, "Ann Poe": None}
    assert stats_of(result) == (638, None, 640)


def test_zero_read_as_bracket_is_zero_only_when_the_sums_agree() -> None:
    # Arrange
    agreeing = """\
 Candidate        Party           Votes
 Jane Doe         NUP             538
 John Roe         PPA             )
 Valid votes                      538
"""
    disagreeing = agreeing.replace("Valid votes                      538", "Valid votes                      600")

    # Act
    agreed = parse_form_text(agreeing)
    disagreed = parse_form_text(disagreeing)

    # Assert
    assert votes_of(agreed)["John Roe"] == 0
    assert votes_of(disagreed)["John Roe"] is None


def test_three_candidates_without_table_header() -> None:
    # Arrange
    text = """\
Constituency: Kibra
 Jane Doe           National Unity Party       10
 John Roe           Independent                20
 Ann Poe            Green Future Party         30
Valid votes: 60
Rejected: 1
Total: 61
"""

    # Act
    result = parse_form_text(text)

    # Assert
    assert votes_of(result) == {"Jane Doe": 10, "John Roe": 20, "Ann Poe": 30}
    assert result.vote_results[0].party == "National Unity Party"
    assert stats_of(result) == (60, 1, 61)


def test_twelve_candidates() -> None:
    # Arrange
    rows = [(f"Person{chr(65 + i)} Surname", f"Party {chr(65 + i)}", 100 + i) for i in range(12)]
    body = "\n".join(f" {name:<24}{party:<16}{votes:>8,}" for name, party, votes in rows)
    valid = sum(v for _, _, v in rows)
    text = f" Candidate               Party           Votes\n{body}\n Valid votes{valid:>37,}\n"

    # Act
    result = parse_form_text(text)

    # Assert
    assert len(result.vote_results) == 12
    assert votes_of(result) == {name: votes for name, _, votes in rows}
    assert result.ballot_stats.valid_votes == valid


def test_registered_voters_line_is_not_a_ballot_statistic() -> None:
    # Arrange
    text = """\
Registered voters: 9,999
Total registered voters 9,999
 Candidate        Party           Votes
 Jane Doe         NUP             10
Total votes cast                  12
"""

    # Act
    result = parse_form_text(text)

    # Assert
    assert stats_of(result) == (None, None, 12)


def test_count_readings_reads_separators_and_refuses_bad_grouping() -> None:
    # Arrange
    cells = ["1,234", "1 234", "1.234", "1234", "12,34", "abc", "|538"]

    # Act
    readings = [count_readings(c) for c in cells]

    # Assert
    assert readings == [[1234], [1234], [1234], [1234], [], [], [538]]
