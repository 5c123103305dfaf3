"""Ports: the small Protocols the use cases need from the outside world, in one place.

`services.py` for the request use cases (`shared/services`), `experiments.py` for the
experiments package. The adapters (`shared/storage`, `shared/pubsub`, `shared/observability`)
satisfy them; `tests/unit/test_storage_ports.py` checks the adapters' methods against them.
"""
