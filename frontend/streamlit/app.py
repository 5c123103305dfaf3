"""The console: the guide's Streamlit pages, a client of the HTTP API and nothing else.

    streamlit run frontend/streamlit/app.py     # ./deploy.sh local starts it at http://127.0.0.1:8501

Configuration: API_BASE_URL (the gateway locally; https://REGION-PROJECT.cloudfunctions.net
deployed) and API_KEY, from the environment or Streamlit secrets; both stay on the server.
"""

from __future__ import annotations

import streamlit as st
from console_page import run_page
from home import render as render_home
from navigation import PAGES

st.set_page_config(page_title="vote-extractor console", page_icon="🗳️", layout="wide")
navigation = st.navigation(
    [
        st.Page(lambda: run_page(render_home), title="Home", icon="🏠", url_path="home", default=True),
        st.Page(PAGES["extract"], title="Vote Extractor", icon="🗳️", url_path="Vote_Extractor"),
        st.Page(PAGES["review"], title="Review Queue", icon="🧑‍⚖️", url_path="Review_Queue"),
        st.Page(PAGES["datasets"], title="Dataset Manager", icon="📊", url_path="Dataset_Manager"),
        st.Page(PAGES["experiments"], title="Experiments", icon="🧪", url_path="Experiments"),
    ]
)
navigation.run()
