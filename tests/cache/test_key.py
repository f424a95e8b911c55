"""What a unit's key sees (laminar.cache.key): code, result-relevant configuration, never resources."""

from __future__ import annotations

from typing import Any

from laminar import Flow, Layer, Parameters
from laminar.cache import key
from laminar.configurations.layers import Cache, Container, Retry
from laminar.graph import Node
from laminar.task import Input


class One(Layer):
    def __call__(self, p: Parameters) -> None:
        self.value = 1


class Two(Layer):
    def __call__(self, p: Parameters) -> None:
        self.value = 2


def _node(layer: type[Layer], **options: Any) -> Node:
    class Keyed(Flow): ...

    Keyed.register(**options)(layer)
    return Keyed.__new__(Keyed).graph()[layer.__name__]  # a graph needs no datastore


def _key(layer: type[Layer], cache: Cache | None = None, **options: Any) -> str:
    inputs = {"Parameters": Input("Parameters", "finished")}
    return key.unit_key("Keyed", _node(layer, **options), cache or Cache(), inputs, {})


def test_the_source_is_the_code_version_unless_one_is_given() -> None:
    assert _key(One) == _key(One)
    assert key.code_version(_node(One), Cache()) != key.code_version(_node(Two), Cache())  # their sources differ
    assert key.code_version(_node(One), Cache(version="3")) == key.code_version(_node(Two), Cache(version="3"))
    assert _key(One, Cache(version="1")) != _key(One, Cache(version="2"))
    assert _key(One, Cache(version="1")) == _key(One, Cache(version="1"))


def test_resources_and_retries_are_not_in_the_key_but_the_image_is() -> None:
    plain = _key(One)
    assert _key(One, container=Container(cpu=4, memory=9000, env={"A": "1"}), retry=Retry(attempts=5)) == plain
    assert _key(One, container=Container(image="localhost/x:1")) != plain
    assert _key(One, container=Container(pip=["six==1.17.0"])) != plain


def test_an_item_is_its_digest_and_a_whole_foreach_dependency_every_splits() -> None:
    entries = {"n": {"sharded": True, "protocols": ["json", "json"], "digests": ["a", "b"]}}
    one = Input("L", "finished", split=0, items={"n": 1})
    assert key.read_digest(one, "n", [entries]) == "json:b"  # type: ignore[list-item]
    whole = Input("L", "finished", split=None, splits=2)
    other = {"n": {"sharded": False, "protocols": ["json"], "digests": ["c"]}}
    assert key.read_digest(whole, "n", [other, other]) != key.read_digest(whole, "n", [other])  # type: ignore[list-item]
    assert key.split_digest(entries, "missing", None) == key.ABSENT  # type: ignore[arg-type]
