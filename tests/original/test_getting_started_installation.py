"""rchui/laminar docs/source/getting_started/installation.md: its only listings are shell commands
(``python -m pip install laminar``, ``--upgrade``); what they install is the distribution named laminar,
importable on the Pythons the page names (3.8+)."""

import importlib.metadata
import sys


def test_the_installed_distribution_is_laminar() -> None:
    import laminar

    assert importlib.metadata.version("laminar") == laminar.__version__
    assert sys.version_info >= (3, 8)
