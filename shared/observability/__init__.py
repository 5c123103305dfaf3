"""Datadog LLM Observability for every function."""
