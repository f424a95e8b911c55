"""End-to-end flows, run on every backend (see ``tests/conftest.py``)."""
