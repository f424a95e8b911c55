"""Container first: one layer runs inside an image, the next on the host reads what it made.

``Container(image=...)`` makes each split of a layer run in a container of that image, started by
laminar with podman (docs/containers.md says what the image must hold and how to build one); its
``cpu`` and ``memory`` become the container's limits and ``env`` its environment. The layer after it
runs on the host and reads its artifacts as from any other layer.

    python examples/containers.py --image localhost/my-layer-image:1          # on a local Ray
    python examples/containers.py --image localhost/my-layer-image:1 --thread # in-process
"""

from __future__ import annotations

import argparse
import os

from laminar import Flow, Layer, Parameters
from laminar.configurations import executors, hooks
from laminar.configurations.layers import Container, ForEach, Parameter


def where() -> str:
    return "in a container" if os.path.exists("/run/.containerenv") else "on the host"  # podman writes it


class Packaged(Flow): ...


@Packaged.register
class Words(Layer):
    def __call__(self, p: Parameters) -> None:
        self.shard(word=p.words)


@Packaged.register(
    foreach=ForEach(parameters=[Parameter(layer=Words, attribute="word")]),
    container=Container(cpu=0.5, memory=256, env={"GREETING": "hello"}),
)
class Shout(Layer):
    @hooks.submission
    def in_image(self, p: Parameters) -> None:  # the image is configuration like any other: chosen per run
        self.configuration.container.image = p.image

    def __call__(self, words: Words) -> None:
        self.loud = f"{os.environ['GREETING']} {words.word.upper()}"
        self.ran = where()


@Packaged.register
class Gather(Layer):
    def __call__(self, shout: Shout) -> None:
        self.all = list(shout.loud)
        self.ran = where()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", required=True, help="a local image holding Python and laminar (docs/containers.md)")
    parser.add_argument("--thread", action="store_true", help="run in this process instead of on Ray")
    args = parser.parse_args()
    if flow := Packaged(executor=executors.Thread() if args.thread else None):
        execution = flow(words=["container", "first"], image=args.image, progress=False)
        shout, gather = execution.layer(Shout), execution.layer(Gather)
        print(f"Shout ran {sorted(set(shout.ran))}: {list(shout.loud)}")
        print(f"Gather ran {gather.ran}: {gather.all}")


if __name__ == "__main__":
    main()
