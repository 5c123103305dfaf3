"""The console's pages, named once for the sidebar and for links between pages.

Streamlit runs each file in pages/ on its own (its multipage convention), so every page draws
this sidebar itself (`sidebar`); Streamlit's own page list is turned off in .streamlit/config.toml
because it would name the home page after its file, "app".
"""

from __future__ import annotations

import streamlit as st

HOME = "app.py"
PAGES = {
    "extract": "pages/1_Vote_Extractor.py",
    "review": "pages/2_Review_Queue.py",
    "datasets": "pages/3_Dataset_Manager.py",
    "experiments": "pages/4_Experiments.py",
    "quality": "pages/5_Quality.py",
    "judges": "pages/6_Judges.py",
}
_LINKS = (
    (HOME, "Home", "🏠"),
    (PAGES["extract"], "Vote Extractor", "🗳️"),
    (PAGES["review"], "Review Queue", "🧑‍⚖️"),
    (PAGES["datasets"], "Dataset Manager", "📊"),
    (PAGES["experiments"], "Experiments", "🧪"),
    (PAGES["quality"], "Quality", "📈"),
    (PAGES["judges"], "Judges", "⚖️"),
)


def sidebar() -> None:
    with st.sidebar:
        st.markdown("**vote-extractor**")
        for page, label, icon in _LINKS:
            st.page_link(page, label=label, icon=icon)
