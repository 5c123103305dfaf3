"""A form type's arithmetic: rules written as text, parsed by a grammar of our own, never `eval`.

A rule is one comparison of two integer expressions:

    rule  := expr CMP expr           CMP: == <= >= < >
    expr  := term (("+" | "-") term)*
    term  := INTEGER | KEY | "sum(votes)" | "(" expr ")" | "-" term

KEY is a statistic key of the type (snake_case); `sum(votes)` is the candidate rows' total (the
rows that have a count; null when none has). An expression with a null operand is null, and a
rule with a null side is `not_checked`: never passed, never failed.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

MAX_RULE_CHARS = 300
_MAX_DEPTH = 20
SUM_VOTES = "sum(votes)"
KEY_PATTERN = r"[a-z][a-z0-9_]{0,39}"
_TOKEN = re.compile(
    rf"\s*(?:(?P<sum>sum\s*\(\s*votes\s*\))|(?P<int>\d{{1,12}})|(?P<key>{KEY_PATTERN})"
    r"|(?P<cmp>==|<=|>=|<|>)|(?P<op>[-+()]))"
)
_COMPARISONS: dict[str, Callable[[int, int], bool]] = {
    "==": operator.eq,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
CheckStatus = Literal["pass", "fail", "not_checked"]


class RuleError(ValueError):
    """A rule that does not parse, or names what its type does not have."""


@dataclass(frozen=True)
class Number:
    value: int


@dataclass(frozen=True)
class Key:
    name: str


@dataclass(frozen=True)
class SumOfVotes:
    pass


@dataclass(frozen=True)
class Negate:
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str  # "+" or "-"
    left: Node
    right: Node


Node = Number | Key | SumOfVotes | Negate | Binary


@dataclass(frozen=True)
class Rule:
    """A parsed rule: `left CMP right`."""

    text: str
    left: Node
    comparison: str
    right: Node

    @property
    def keys(self) -> frozenset[str]:
        """The statistic keys the rule reads (not `sum(votes)`)."""
        return _keys(self.left) | _keys(self.right)

    def check(
        self, values: Mapping[str, int | None], votes_sum: int | None
    ) -> tuple[CheckStatus, int | None, int | None]:
        """(status, left value, right value) for one reading's numbers."""
        left, right = _value(self.left, values, votes_sum), _value(self.right, values, votes_sum)
        if left is None or right is None:
            return "not_checked", left, right
        return ("pass" if _COMPARISONS[self.comparison](left, right) else "fail"), left, right

    def explain(self, values: Mapping[str, int | None], votes_sum: int | None) -> str:
        """The rule with each operand's number, and its outcome: a sentence a reviewer can check,
        e.g. "used_ballots (540) == spoiled_ballots (3) + rejected_ballots (12) + valid_votes (520): 540 != 535"."""
        status, left, right = self.check(values, votes_sum)
        shown = f"{_shown(self.left, values, votes_sum)} {self.comparison} {_shown(self.right, values, votes_sum)}"
        if status == "not_checked":
            missing = sorted(k for k in self.keys if values.get(k) is None)
            if votes_sum is None and _uses_sum(self.left) | _uses_sum(self.right):
                missing.append(SUM_VOTES)
            return f"{shown}: not checked, no value for {', '.join(missing)}"
        if status == "pass":
            return f"{shown}: holds ({left} {self.comparison} {right})"
        return f"{shown}: fails ({left} {_NEGATED[self.comparison]} {right})"


_NEGATED = {"==": "!=", "<=": ">", ">=": "<", "<": ">=", ">": "<="}


def parse_rule(text: str) -> Rule:
    """Parse one rule; RuleError says what is wrong and where."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError("a rule is a non-empty text such as 'valid_votes == sum(votes)'")
    if len(text) > MAX_RULE_CHARS:
        raise RuleError(f"a rule is at most {MAX_RULE_CHARS} characters")
    tokens = _tokens(text)
    parser = _Parser(tokens, text)
    left = parser.expression()
    comparison = parser.take("cmp")
    right = parser.expression()
    if parser.position != len(tokens):
        raise RuleError(f"unexpected {tokens[parser.position][1]!r} in rule {text!r}: one comparison per rule")
    return Rule(text=text.strip(), left=left, comparison=comparison, right=right)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if match is None or match.end() == position:
            bad = stripped[position:].lstrip()[:12]
            raise RuleError(
                f"cannot read {bad!r} in rule {text!r}: a rule uses statistic keys, sum(votes), integers, "
                "+, -, parentheses and one of == <= >= < >"
            )
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], text: str) -> None:
        self.tokens, self.text, self.position, self.depth = tokens, text, 0, 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            wanted = value or {"cmp": "a comparison (== <= >= < >)"}.get(kind, kind)
            found = "the end" if token is None else repr(token[1])
            raise RuleError(f"expected {wanted} but found {found} in rule {self.text!r}")
        self.position += 1
        return token[1]

    def expression(self) -> Node:
        node = self.term()
        while (token := self.peek()) is not None and token[0] == "op" and token[1] in "+-":
            self.position += 1
            node = Binary(token[1], node, self.term())
        return node

    def term(self) -> Node:
        token = self.peek()
        if token is None:
            raise RuleError(f"rule {self.text!r} ends where a number or key was expected")
        kind, value = token
        self.position += 1
        if kind == "int":
            return Number(int(value))
        if kind == "key":
            return Key(value)
        if kind == "sum":
            return SumOfVotes()
        if kind == "op" and value in "(-":
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise RuleError(f"rule {self.text!r} nests deeper than {_MAX_DEPTH}")
            try:
                if value == "-":
                    return Negate(self.term())
                inner = self.expression()
                self.take("op", ")")
                return inner
            finally:
                self.depth -= 1
        raise RuleError(f"unexpected {value!r} in rule {self.text!r}")


def _keys(node: Node) -> frozenset[str]:
    if isinstance(node, Key):
        return frozenset({node.name})
    if isinstance(node, Negate):
        return _keys(node.operand)
    if isinstance(node, Binary):
        return _keys(node.left) | _keys(node.right)
    return frozenset()


def _uses_sum(node: Node) -> bool:
    if isinstance(node, SumOfVotes):
        return True
    if isinstance(node, Negate):
        return _uses_sum(node.operand)
    if isinstance(node, Binary):
        return _uses_sum(node.left) or _uses_sum(node.right)
    return False


def _value(node: Node, values: Mapping[str, int | None], votes_sum: int | None) -> int | None:
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Key):
        return values.get(node.name)
    if isinstance(node, SumOfVotes):
        return votes_sum
    if isinstance(node, Negate):
        inner = _value(node.operand, values, votes_sum)
        return None if inner is None else -inner
    left, right = _value(node.left, values, votes_sum), _value(node.right, values, votes_sum)
    if left is None or right is None:
        return None
    return left + right if node.op == "+" else left - right


def _shown(node: Node, values: Mapping[str, int | None], votes_sum: int | None) -> str:
    if isinstance(node, Number):
        return str(node.value)
    if isinstance(node, Key):
        return f"{node.name} ({_or_null(values.get(node.name))})"
    if isinstance(node, SumOfVotes):
        return f"{SUM_VOTES} ({_or_null(votes_sum)})"
    if isinstance(node, Negate):
        return f"-{_shown(node.operand, values, votes_sum)}"
    left, right = _shown(node.left, values, votes_sum), _shown(node.right, values, votes_sum)
    if isinstance(node.right, Binary):
        right = f"({right})"
    return f"{left} {node.op} {right}"


def _or_null(value: int | None) -> str:
    return "null" if value is None else str(value)
