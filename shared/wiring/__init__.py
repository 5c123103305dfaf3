"""Composition roots: one module per function, where adapters are chosen and handed to use cases.

A use case receives what it needs through its constructor and never imports an adapter; the
function's `main.py` asks its wiring module for the service, built once per instance.
"""
