"""The console's pages, named once for the sidebar and for links between pages."""

from __future__ import annotations

PAGES = {
    "extract": "pages/1_Vote_Extractor.py",
    "review": "pages/2_Review_Queue.py",
    "datasets": "pages/3_Dataset_Manager.py",
    "experiments": "pages/4_Experiments.py",
}
