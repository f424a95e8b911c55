"""The original laminar's documentation pages (rchui/laminar docs/source/), every example run as a test."""
