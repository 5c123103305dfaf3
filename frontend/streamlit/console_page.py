"""What every console page does first, and how it shows what went wrong.

A page calls `start_page`, then reaches the API only through `load` (the page cannot go on
without the answer) or `attempt` (an action that may fail and the page goes on). Failures are
sentences on the page: the API's own message, or the "API unreachable" banner. Anything else
unexpected is logged on the server and shown as one sentence by `run_page`, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import requests
import streamlit as st
from api_client import ApiClient, ApiError, ApiSettings, ApiUnreachable
from navigation import sidebar
from rum import initialize_rum
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

logger = logging.getLogger("console")
Answer = TypeVar("Answer")


def start_page(title: str, icon: str, *, tab_title: str | None = None) -> ApiClient:
    st.set_page_config(page_title=f"{tab_title or title} · vote-extractor", page_icon=icon, layout="wide")
    sidebar()
    initialize_rum()
    st.title(f"{icon} {title}")
    return api_client()


def api_client() -> ApiClient:
    """The client for the configured API; the key never leaves the server. Built each run (it is
    cheap) over a cached connection pool: a cached client would outlive a reload of this code
    (Streamlit reloads the app's modules when a file changes) and raise errors of the old classes,
    which no `except` of the new code would catch."""
    settings = ApiSettings.from_environment(st.secrets)
    return ApiClient(settings, session=_session_for(settings))


@st.cache_resource
def _session_for(settings: ApiSettings) -> requests.Session:
    return requests.Session()  # one connection pool per server process and configuration


def unreachable_banner(error: ApiUnreachable) -> None:
    st.error(
        f"**API unreachable.** {error.message} Start the local stack with `./deploy.sh local`, or check API_BASE_URL.",
        icon="🔌",
    )


def load(what: str, call: Callable[..., Answer], *args: Any, **kwargs: Any) -> Answer:
    """The answer the page needs; on failure show why and stop rendering this page."""
    try:
        return call(*args, **kwargs)
    except ApiUnreachable as error:
        unreachable_banner(error)
    except ApiError as error:
        st.error(f"Could not load {what}: {error.message}")
    st.stop()
    raise AssertionError("st.stop() returned")  # pragma: no cover - it raises


def attempt(what: str, call: Callable[..., Answer], *args: Any, **kwargs: Any) -> Answer | None:
    """Do an action; on failure show the API's sentence and answer None (the page goes on)."""
    try:
        return call(*args, **kwargs)
    except ApiUnreachable as error:
        unreachable_banner(error)
    except ApiError as error:
        st.error(f"{what} failed: {error.message}")
    return None


def run_page(render: Callable[[], None]) -> None:
    """Render a page; an unexpected error is logged here and shown as a sentence, not a traceback."""
    try:
        render()
    except Exception as error:
        if isinstance(error, ScriptControlException):  # st.stop and st.rerun travel as exceptions
            raise
        logger.exception("page error")
        st.error(
            f"Something went wrong on this page ({type(error).__name__}). "
            "The details are in the console's server log; reload to try again."
        )


def load_page(key: str, what: str, call: Callable[..., Any], **filters: Any) -> tuple[Any, int]:
    """One page of a listing, and its number. The page tokens walked so far are kept in session
    state under `key`, back to the first page whenever the filters change."""
    tokens = st.session_state.setdefault(f"{key}-pages", [None])
    if st.session_state.get(f"{key}-filters") != filters:
        st.session_state[f"{key}-filters"] = filters
        tokens[:] = [None]
    return load(what, call, **filters, page_token=tokens[-1]), len(tokens)


def page_buttons(key: str, page: Any, *, back: str = "← Newer", forward: str = "Older →") -> None:
    """Back and forward through a listing `load_page` fetched under the same `key`."""
    tokens = st.session_state[f"{key}-pages"]
    left, right = st.columns(2)
    if len(tokens) > 1 and left.button(back, key=f"{key}-back"):
        tokens.pop()
        st.rerun()
    if page.get("next_page_token") and right.button(forward, key=f"{key}-forward"):
        tokens.append(page["next_page_token"])
        st.rerun()


def lazy_tabs(key: str, panels: dict[str, Callable[[], None]]) -> None:
    """Tabs that keep the chosen one across reruns (its label is in session_state[key]) and run
    only its panel, so a page's first render costs one panel, not all of them."""
    tabs = st.tabs(list(panels), key=key, on_change="rerun")
    for tab, render in zip(tabs, panels.values(), strict=True):
        if tab.open:
            with tab:
                render()


def short_time(value: str | None) -> str:
    """An ISO timestamp as `YYYY-MM-DD HH:MM:SS` (UTC)."""
    return (value or "")[:19].replace("T", " ")
