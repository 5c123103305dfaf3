"""The form types the product ships, seeded as version 1 of each (API.md, "form types").

Their keys are fixed: clients and checks rely on them. Labels are as the paper prints them, in
its language.
"""

from __future__ import annotations

from shared.form_types.model import GENERIC, FormType


def _type(name: str, title: str, language: str, statistics: list[tuple[str, str]], rules: list[tuple[str, str, str]],
          *, country: str | None = None, figures_in_words: bool = False) -> FormType:  # fmt: skip
    return FormType(
        name=name,
        version=1,
        title=title,
        country=country,
        language=language,
        statistics=[{"key": key, "label": label} for key, label in statistics],
        figures_in_words=figures_in_words,
        rules=[{"id": rule_id, "expr": expr, "severity": severity} for rule_id, expr, severity in rules],
    )


_VALID_IS_SUM = ("valid_is_sum_of_votes", "valid_votes == sum(votes)", "error")

BUILTIN_FORM_TYPES: dict[str, FormType] = {
    form.name: form
    for form in (
        _type(
            GENERIC,
            "Generic result form (candidate rows, valid / rejected / total)",
            "en",
            [
                ("valid_votes", "Valid votes"),
                ("rejected_ballots", "Rejected ballots"),
                ("total_ballots", "Total ballots"),
            ],
            [
                _VALID_IS_SUM,
                ("total_is_valid_plus_rejected", "valid_votes + rejected_ballots == total_ballots", "error"),
            ],
        ),
        _type(
            "ng_ec8a",
            "Nigeria INEC Form EC8A (polling unit result)",
            "en",
            [
                ("registered_voters", "1. Number of Voters on the Register"),
                ("accredited_voters", "2. Number of Accredited Voters"),
                ("ballots_issued", "3. Number of Ballot Papers Issued to the Polling Unit"),
                ("unused_ballots", "4. Number of Unused Ballot Papers"),
                ("spoiled_ballots", "5. Number of Spoiled Ballot Papers"),
                ("rejected_ballots", "6. Number of Rejected Ballots"),
                ("valid_votes", "7. Total Number of Valid Votes"),
                ("used_ballots", "8. Total Number of Used Ballot Papers (#5 + #6 + #7)"),
            ],
            [
                _VALID_IS_SUM,
                (
                    "used_is_spoiled_rejected_valid",
                    "used_ballots == spoiled_ballots + rejected_ballots + valid_votes",
                    "error",
                ),
                ("issued_is_unused_plus_used", "unused_ballots + used_ballots == ballots_issued", "error"),
                ("not_over_voted", "valid_votes + rejected_ballots <= accredited_voters", "error"),
                ("accredited_within_register", "accredited_voters <= registered_voters", "error"),
            ],
            country="NG",
            figures_in_words=True,
        ),
        _type(
            "bo_acta",
            "Bolivia OEP Acta Electoral de Escrutinio y Conteo",
            "es",
            [
                ("registered_voters", "Electores habilitados"),
                ("ballots_in_box", "Papeletas en ánfora"),
                ("unused_ballots", "Papeletas no utilizadas"),
                ("valid_votes", "Votos válidos"),
                ("blank_votes", "Votos blancos"),
                ("null_votes", "Votos nulos"),
            ],
            [
                _VALID_IS_SUM,
                ("box_is_valid_blank_null", "ballots_in_box == valid_votes + blank_votes + null_votes", "error"),
                ("box_within_register", "ballots_in_box <= registered_voters", "error"),
                ("box_plus_unused_is_register", "ballots_in_box + unused_ballots == registered_voters", "warning"),
            ],
            country="BO",
        ),
        _type(
            "ke_34a",
            "Kenya IEBC Form 34A (polling station presidential result)",
            "en",
            [
                ("registered_voters", "Number of registered voters"),
                ("rejected_ballots", "Total number of rejected ballot papers"),
                ("rejected_objected", "Total number of rejection objected to"),
                ("disputed_votes", "Total number of disputed votes"),
                ("valid_votes", "Total number of valid votes cast"),
            ],
            [_VALID_IS_SUM, ("not_over_voted", "valid_votes + rejected_ballots <= registered_voters", "error")],
            country="KE",
        ),
    )
}
