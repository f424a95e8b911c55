"""Reading artifacts back: their bytes checked against their digest, then loaded with their protocol.

The read side of :class:`laminar.datastore.Datastore` (``writes`` holds the
write side; ``store`` splits, layers and executions). An artifact is read from the
document that keeps it (base64, when small), from a file of its own, or from its
span of a shard's pack; whichever, its bytes must hash (SHA-256) to its digest
before it is deserialized, and every failure names the artifact, where it was
looked for and what to do.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
from collections.abc import Callable, Mapping
from typing import IO, Any

from laminar.datastore import layout, transfer
from laminar.datastore.files import Files
from laminar.errors import ArtifactError
from laminar.serde import Serde

#: What an error about a damaged or missing artifact tells the user to do: the rerun's write of the same
#: content replaces whatever sits at its address (``writes``).
RERUN = (
    "rerun the layer that wrote it: resume its execution with rerun=[that layer] "
    "(Execution.resume(rerun=[...]), laminar resume --rerun LAYER)"
)


#: Reading a pack's items one span at a time costs a fixed price per read (on a local disk three system
#: calls, which in ``executors.Thread`` each wait for the GIL: 30,000 trivial splits spent about a third
#: of their threads' time there; on S3 a GET). Once a reader has read as many spans of one pack as would
#: have paid for reading it whole, taking each span's price as ``SPAN_PRICE`` bytes, it reads the pack
#: whole (if at most ``PACK_WHOLE`` bytes) and keeps it, so that the splits of a foreach layer read the
#: rest of their items from memory; a reader that reads a few items of a pack reads only their spans.
SPAN_PRICE = 64 * 1024
#: (The pack of a shard of 1,000,000 ints is 16.1 MiB: kept, 1,000,000 splits on Thread took 140 s, not 205.)
PACK_WHOLE = 32 * 1024 * 1024
#: The most bytes of packs one reader keeps; past it, those kept are let go.
PACKS_KEPT = 64 * 1024 * 1024
#: Span reads of one pack before its size is looked at (and again at each doubling).
SPANS_FIRST = 16


class ArtifactReader:
    """Loading stored artifacts from ``files``: ``get_value`` and ``get_packed``."""

    def __init__(self, files: Files, serde: Serde) -> None:
        self._files = files
        self.serde = serde
        # relative path of a pack -> its bytes, and the packs larger than PACK_WHOLE (read by spans). Packs
        # are content-addressed and never change; each item read from one is still checked against its digest.
        self._packs: dict[str, bytes] = {}
        self._spans: dict[str, int] = {}  # spans read of each pack not kept
        self._sizes: dict[str, int] = {}
        self._kept = 0

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_packs={}, _spans={}, _sizes={}, _kept=0)  # each process reads its own
        return state

    def get_value(
        self, protocol_name: str, digest: str, *, where: str = "value", inline: Mapping[str, str] | None = None
    ) -> Any:
        """Load the artifact ``digest`` with its protocol, after checking its bytes hash to ``digest``.

        ``inline``: the artifacts kept in the archive entry that names it (digest -> base64 bytes).
        """
        protocol = self.serde.get(protocol_name, where=where)
        try:
            relative = layout.artifact(digest)
        except ArtifactError as error:
            raise ArtifactError(f"{where}: {error}") from None
        short = digest[:12]
        if inline and digest in inline:
            data = _decoded(inline[digest], where)
            place, remedy = f"kept in its split's document in {self._files.url}", RERUN
            _check_digest(hashlib.sha256(data).hexdigest(), digest, where, place, remedy)
            return _loaded(where, short, protocol_name, protocol.load, io.BytesIO(data))
        try:
            with self._files.guard(f"read artifact {short}", missing_ok=True):
                source = self._reader(self._files.path(relative))
        except FileNotFoundError:
            raise ArtifactError(
                f"{where}: artifact {short} is missing from {self._files.url} (expected at {relative}); "
                f"the datastore was cleaned or damaged: {RERUN}"
            ) from None
        with contextlib.ExitStack() as stack:
            stack.enter_context(source)
            with self._files.guard(f"read artifact {short}"):
                if self._files.local or protocol.writes_uris:  # hash in place, then load from the same file
                    actual, file = transfer.hash_file(source), source
                    file.seek(0)
                else:  # one pass over the network into a spool, hashed on the way
                    spool, actual = stack.enter_context(transfer.spooled(source))
                    file = spool.reader()
            _check_digest(actual, digest, where, f"in {self._files.url}", RERUN)
            if protocol.writes_uris:
                return _loaded(
                    where, short, protocol_name, protocol.read_uri, self._files.url_of(relative), self._files.options
                )
            return _loaded(where, short, protocol_name, protocol.load, file)
        raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow

    def get_packed(
        self,
        protocol_name: str,
        digest: str,
        pack: str,
        span: Any,
        *,
        where: str = "value",
        inline: Mapping[str, str] | None = None,
    ) -> Any:
        """Load the value ``digest`` stored at ``span`` (offset, length) in the pack artifact ``pack``
        (kept in ``inline`` or a file of its own). Only the span is read (a ranged read on object stores,
        a slice in memory): reading one item of a large shard costs that item, not its pack, until this
        reader has read enough of its items to pay for the pack (:data:`SPAN_PRICE`)."""
        protocol = self.serde.get(protocol_name, where=where)
        try:
            relative = layout.artifact(pack)
            offset, length = (int(n) for n in span)
        except (ArtifactError, TypeError, ValueError):
            raise ArtifactError(f"{where}: the archive is damaged (pack {pack!r}, span {span!r})") from None
        short = digest[:12]
        if inline and pack in inline:
            data = _decoded(inline[pack], where)[offset : offset + length]
            place, remedy = f"kept in its split's document in {self._files.url}", RERUN
        else:
            place, remedy = f"in {self._files.url} (pack {pack[:12]})", RERUN
            try:
                data = self._span(relative, offset, length, f"read artifact {short}")
            except FileNotFoundError:
                raise ArtifactError(
                    f"{where}: artifact {short} is missing from {self._files.url} (its pack {pack[:12]} was expected "
                    f"at {relative}); the datastore was cleaned or damaged: {RERUN}"
                ) from None
        _check_digest(hashlib.sha256(data).hexdigest(), digest, where, place, remedy)
        return _loaded(where, short, protocol_name, protocol.load, io.BytesIO(data))

    def _span(self, relative: str, offset: int, length: int, action: str) -> bytes:
        """``length`` bytes of the pack at ``relative`` from ``offset``: a slice of the pack once it is kept
        whole (see :data:`SPAN_PRICE`), else a ranged read; FileNotFoundError when it does not exist."""
        if offset < 0 or length < 0:  # a damaged span: the file layer says what it makes of it
            return self._files.get_range(relative, offset, length, action=action)
        pack = self._packs.get(relative)
        if pack is None:
            pack = self._whole(relative, action)
        if pack is None:
            return self._files.get_range(relative, offset, length, action=action)
        return pack[offset : offset + length]

    def _whole(self, relative: str, action: str) -> bytes | None:
        """Count one more span read of the pack at ``relative``; its bytes, read whole and kept, once the
        spans read would have paid for that (looked at after 16, 32, 64 ... reads), else None."""
        if len(self._spans) > 4096:  # a long-lived reader of many packs: count afresh
            self._spans, self._sizes = {}, {}
        spans = self._spans[relative] = self._spans.get(relative, 0) + 1
        if spans < SPANS_FIRST or spans & (spans - 1):
            return None
        size = self._sizes.get(relative)
        if size is None:
            size = self._sizes[relative] = self._files.size(relative, action=action)
        if size > min(PACK_WHOLE, spans * SPAN_PRICE):
            return None
        pack = self._files.get_bytes(relative)
        if self._kept + len(pack) > PACKS_KEPT:
            self._packs, self._kept = {}, 0
        self._packs[relative] = pack
        self._kept += len(pack)
        self._spans.pop(relative, None)
        return pack

    def _reader(self, path: str) -> IO[bytes]:
        """A file of its own to read ``path`` from. fsspec's memory filesystem hands every reader the one
        stored file object (a shared position: concurrent readers of one artifact read each other's
        bytes), so there a private copy is read; it holds everything in memory anyway."""
        if self._files.local:
            return open(path, "rb")
        if "memory" in self._files.fs.protocol:
            return io.BytesIO(self._files.fs.cat_file(path))
        return self._files.fs.open(path, "rb")  # type: ignore[no-any-return]


def _decoded(encoded: Any, where: str) -> bytes:
    """The bytes of an artifact kept in an archive entry (base64)."""
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise ArtifactError(f"{where}: the archive is damaged (an artifact kept in it is not base64)") from None


def _check_digest(actual: str, digest: str, where: str, place: str, remedy: str) -> None:
    """An ArtifactError naming the artifact, ``place`` and ``remedy`` unless its bytes hash to ``digest``."""
    if actual != digest.lower():
        raise ArtifactError(
            f"{where}: artifact {digest[:12]} {place} is corrupt (its SHA-256 is {actual[:12]}); {remedy}"
        )


def _loaded(where: str, short: str, protocol_name: str, load: Callable[..., Any], *args: Any) -> Any:
    """``load(*args)`` (a protocol's ``load`` or ``read`` of verified bytes); its failure an ArtifactError."""
    try:
        return load(*args)
    except Exception as error:
        raise ArtifactError(
            f"{where}: artifact {short} cannot be loaded with protocol {protocol_name!r}: "
            f"{type(error).__name__}: {error}"
        ) from error
