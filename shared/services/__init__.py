"""Use cases: each function's handler calls one service here."""
