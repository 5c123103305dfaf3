"""Datadog RUM in the console's pages, as the guide's `utils.datadog_rum.initialize_rum` does.

Only when DD_RUM_APPLICATION_ID and DD_RUM_CLIENT_TOKEN are set. A RUM client token is meant to
be public (it can only send browser events), unlike the API key, which never reaches a page.
Streamlit renders components in a same-origin iframe, so the snippet loads the SDK into the
parent document, once per browser tab.
"""

from __future__ import annotations

import json
import os

RUM_SDK_URL = "https://www.datadoghq-browser-agent.com/{region}/v6/datadog-rum.js"
_REGIONS = {"datadoghq.com": "us1", "datadoghq.eu": "eu1", "us3.datadoghq.com": "us3", "us5.datadoghq.com": "us5"}


def rum_snippet() -> str | None:
    """The HTML that starts RUM in the parent page, or None when RUM is not configured."""
    application_id = os.environ.get("DD_RUM_APPLICATION_ID", "").strip()
    client_token = os.environ.get("DD_RUM_CLIENT_TOKEN", "").strip()
    if not application_id or not client_token:
        return None
    site = os.environ.get("DD_SITE", "datadoghq.com").strip() or "datadoghq.com"
    config = {
        "applicationId": application_id,
        "clientToken": client_token,
        "site": site,
        "service": os.environ.get("DD_RUM_SERVICE", "vote-extractor-console"),
        "env": os.environ.get("DD_ENV", "local"),
        "sessionSampleRate": 100,
        "trackUserInteractions": True,
        "defaultPrivacyLevel": "mask-user-input",
    }
    sdk = RUM_SDK_URL.format(region=_REGIONS.get(site, "us1"))
    return f"""<script>
(function () {{
  var top = window.parent.document;
  if (top.getElementById("dd-rum-sdk")) return;
  var script = top.createElement("script");
  script.id = "dd-rum-sdk";
  script.src = {json.dumps(sdk)};
  script.onload = function () {{ window.parent.DD_RUM && window.parent.DD_RUM.init({json.dumps(config)}); }};
  top.head.appendChild(script);
}})();
</script>"""


def initialize_rum() -> None:
    snippet = rum_snippet()
    if snippet is None:
        return
    import streamlit.components.v1 as components

    components.html(snippet, height=0)
