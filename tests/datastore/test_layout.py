"""The layout's path functions: names become single, safe path segments."""

from __future__ import annotations

import pytest

from laminar.datastore import layout
from laminar.errors import ArtifactError, ConfigurationError


def test_paths() -> None:
    digest = "0f" * 32
    assert layout.artifact(digest) == f"artifacts/sha256/0f/{digest}"
    assert layout.artifact(digest.upper()) == layout.artifact(digest)
    assert layout.split("Flow", "e-1", "Train", 12) == "flows/Flow/e-1/Train/12.json"
    assert layout.failure("Flow", "e-1", "Train", 12, 2) == "flows/Flow/e-1/Train/12.failure-2.json"  # attempt 2
    assert layout.log("Flow", "e-1", "Train", 12, 2) == "flows/Flow/e-1/Train/12.log-2.json"
    assert layout.temporary().startswith("tmp/") and layout.temporary() != layout.temporary()


@pytest.mark.parametrize("bad", ["../x", "..", ".", "/etc", "a/b", "a\\b", "a\x00b", "", " ", "é", "x" * 201, "~user"])
def test_unsafe_segments_are_rejected_with_a_fix(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="use letters, digits"):
        layout.execution("Flow", bad)
    with pytest.raises(ConfigurationError):
        layout.layer("Flow", "e", bad)
    with pytest.raises(ConfigurationError):
        layout.flow(bad)


@pytest.mark.parametrize("bad", ["", "ab", "../" + "a" * 61, "g" * 64, "a" * 63, "a" * 65, None])
def test_digests_must_be_sha256(bad: object) -> None:
    with pytest.raises(ArtifactError, match="SHA-256"):
        layout.artifact(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, True, 1.0, "1"])
def test_split_indices_are_non_negative_integers(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="split index"):
        layout.split("F", "e", "L", bad)  # type: ignore[arg-type]
