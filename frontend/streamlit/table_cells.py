"""Text shown in an `st.table` cell exactly as written.

Streamlit renders every table cell (and header) as Markdown: a printed label "1. Number of
Voters on the Register" would become a list item and lose its "1.", a candidate name read as
"*A*" would turn italic, "$5" would start a formula. `literal` escapes what Markdown would act on.
"""

from __future__ import annotations

import re
from typing import Any

_INLINE = re.compile(r"([\\`*_{}\[\]<>|~$#])")
_LIST_NUMBER = re.compile(r"^(\s*\d+)([.)])")
_BLOCK_MARK = re.compile(r"^(\s*)([-+=>])")


def literal(value: Any) -> Any:
    """`value` as a cell shows it verbatim; anything that is not text is returned as it is."""
    if not isinstance(value, str):
        return value
    escaped = _INLINE.sub(r"\\\1", value)
    escaped = _LIST_NUMBER.sub(r"\1\\\2", escaped)
    return _BLOCK_MARK.sub(r"\1\\\2", escaped)
