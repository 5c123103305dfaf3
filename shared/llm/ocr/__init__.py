"""Offline extraction model: Tesseract OCR plus a rule-based parser (import submodules directly)."""
