"""Browser tests (a package so that this folder's conftest does not shadow tests/conftest.py's
``conftest`` module, which other test modules import helpers from)."""
