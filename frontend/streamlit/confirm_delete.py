"""Delete buttons that ask first, and say what happened in the API's own words.

A click on "Delete ..." asks for a confirmation; "Yes, delete" sends the DELETE. A refusal (409:
a published version, an extraction a dataset holds; 404: already gone) is shown as the API's
sentence beside the button, never a traceback or a generic message. A deletion that succeeded is
said once by `deletion_notice`, where the page calls it (the deleted thing's button is gone).

The picker that chose the deleted thing must then show another: its value is set by
`deletion_notice`, which the page calls before its pickers (a widget's state cannot be set once
the widget is drawn, and a state merely dropped leaves the browser showing the deleted name).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st
from api_client import ApiError, ApiUnreachable
from console_page import unreachable_banner

_DONE = "deleted-notice"
_CHOOSE = "deleted-then-choose"


def delete_button(
    what: str, key: str, delete: Callable[..., Any], *args: Any, then_choose: dict[str, Any] | None = None
) -> None:
    """'Delete {what}', then 'Yes, delete {what}' or 'Cancel'; `delete(*args)` sends the DELETE.
    `then_choose`: once it is gone, the pickers (widget keys) to move and the values they take."""
    asking, refused = f"delete-asking-{key}", f"delete-refused-{key}"
    if message := st.session_state.pop(refused, None):
        st.error(f"Could not delete {what}: {message}")
    if not st.session_state.get(asking):
        if st.button(f"Delete {what}", key=f"delete-{key}", icon=":material/delete:"):
            st.session_state[asking] = True
            st.rerun()
        return
    st.warning(f"Delete {what}? This cannot be undone.")
    yes, no = st.columns([1, 1])
    if yes.button(f"Yes, delete {what}", type="primary", key=f"delete-yes-{key}"):
        del st.session_state[asking]
        try:
            delete(*args)
        except ApiUnreachable as error:
            unreachable_banner(error)
            return
        except ApiError as error:
            st.session_state[refused] = error.message
            st.rerun()
        st.session_state[_CHOOSE] = then_choose or {}
        st.session_state[_DONE] = f"Deleted {what}."
        st.rerun()
    if no.button("Cancel", key=f"delete-no-{key}"):
        del st.session_state[asking]
        st.rerun()


def deletion_notice() -> None:
    """The last deletion's outcome, once (the next rerun clears it); call it before the pickers."""
    for widget, value in st.session_state.pop(_CHOOSE, {}).items():
        st.session_state[widget] = value
    if done := st.session_state.pop(_DONE, None):
        st.success(done)
