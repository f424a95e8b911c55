"""Build the containers tests' image from this machine's own files, fast, with no registry and no network.

The image is a root filesystem tarball that ``podman import`` turns into ``localhost/laminar-test:<hash>``:

- the Python running this script (``sys.base_prefix``: same version, same build), laid out as
  ``/usr/local`` (``bin/python3.11``, ``lib/python3.11``; ``libpython`` in ``/usr/lib/x86_64-linux-gnu``),
  its standard library without tests, IDLE, tkinter and ``ensurepip``;
- the packages laminar needs at run time and what they require (:data:`PACKAGES`), copied file by file
  from this environment's site-packages as their ``RECORD`` lists them (C headers, Cython sources and
  test suites left out); laminar itself from this checkout (no Ray: containers run one task, not a worker);
- the shared libraries all of those link to (``ldd``), ``/bin/sh``, CA certificates, ``/etc/passwd``;
- what only the image has: :data:`MARKER` and the module :data:`MODULE`.

The tag is a hash of those inputs (file contents, or the hash pip recorded for them), so a build is done
once per change of laminar or of the environment, and an existing tag is reused (``podman image exists``).
A file lock keeps concurrent test sessions from building the same image twice.

Usage: ``python tests/containers/image.py`` prints the image reference (building it when missing);
from pytest, :func:`ensure_image`.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import importlib.metadata as metadata
import io
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = "localhost/laminar-test"
MARKER = "/opt/laminar-test/only-in-image.txt"
MARKER_TEXT = "only in the laminar test image\n"
MODULE = "laminar_test_only_in_image"
PACKAGES = ("pydantic", "fsspec", "cloudpickle", "orjson", "pyarrow", "rich")
ROOT = Path(__file__).resolve().parents[2]  # the checkout: laminar/ is copied from here

_VERSION = f"python{sys.version_info.major}.{sys.version_info.minor}"
_STDLIB_SKIPPED = {"site-packages", "test", "tests", "idle_test", "idlelib", "tkinter", "turtledemo", "ensurepip"}
_STDLIB_SKIPPED_PREFIX = ("config-",)  # the static libpython and Makefile, for building extensions
_PACKAGE_SKIPPED = re.compile(r"(^|/)(include|includes|tests|src)/|\.(pxd|pyx|pxi|h|hpp|cc|cpp)$")
_MULTIARCH = "usr/lib/x86_64-linux-gnu"


@dataclass
class Rootfs:
    """What goes into the tarball: arcname -> a host file, bytes, a symlink target or a directory."""

    files: dict[str, Path] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    dirs: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # arcname -> what stands for its content in the hash
    compiled: dict[str, Path] = field(default_factory=dict)  # arcname of a .pyc -> its source, compiled at write

    def add(self, arcname: str, source: Path, key: str | None = None) -> None:
        self.files[arcname.lstrip("/")] = source
        if key is not None:
            self.keys[arcname.lstrip("/")] = key

    def digest(self) -> str:
        """The hash of every entry's name, mode and content (a recorded hash where pip recorded one)."""
        hashed = hashlib.sha256(Path(__file__).read_bytes())
        for name in sorted(self.files):
            key = self.keys.get(name)
            if key is None:
                key = hashlib.sha256(self.files[name].read_bytes()).hexdigest()
            hashed.update(f"f {name} {os.stat(self.files[name]).st_mode & 0o777:o} {key}\n".encode())
        for name in sorted(self.data):
            hashed.update(f"d {name} {hashlib.sha256(self.data[name]).hexdigest()}\n".encode())
        for name in sorted(self.links):
            hashed.update(f"l {name} {self.links[name]}\n".encode())
        for name in sorted(self.compiled):  # made from a source hashed above
            hashed.update(f"c {name}\n".encode())
        for name in sorted(self.dirs):
            hashed.update(f"D {name} {self.dirs[name]:o}\n".encode())
        return hashed.hexdigest()[:16]

    def write(self, out: io.BufferedIOBase) -> None:
        """Write the tarball (uncompressed: podman imports it faster than it would gunzip it). Identical
        files (pyarrow's wheel holds libarrow_python three times) become hard links."""
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.GNU_FORMAT) as tar:
            made: set[str] = set()

            def parents(name: str) -> None:
                parts = name.split("/")[:-1]
                for end in range(1, len(parts) + 1):
                    directory = "/".join(parts[:end])
                    if directory not in made and directory not in self.links:
                        made.add(directory)
                        info = tarfile.TarInfo(directory)
                        info.type, info.mode = tarfile.DIRTYPE, self.dirs.get(directory, 0o755)
                        tar.addfile(info)

            for name in sorted(self.dirs):
                parents(name + "/x")
            for name, target in sorted(self.links.items()):
                parents(name)
                info = tarfile.TarInfo(name)
                info.type, info.linkname = tarfile.SYMTYPE, target
                tar.addfile(info)
            seen: dict[str, str] = {}
            for name in sorted(self.files):
                parents(name)
                source = self.files[name]
                stat = os.stat(source)
                key = self.keys.get(name)
                if key is not None and key.startswith("sha256=") and key in seen:
                    info = tarfile.TarInfo(name)
                    info.type, info.linkname = tarfile.LNKTYPE, seen[key]
                    tar.addfile(info)
                    continue
                if key is not None:
                    seen[key] = name
                info = tarfile.TarInfo(name)
                info.size, info.mode = stat.st_size, stat.st_mode & 0o755 | 0o644
                info.mtime = int(stat.st_mtime)  # the .pyc files beside it record it: keep them valid
                with open(source, "rb") as handle:
                    tar.addfile(info, handle)
            for name in sorted(self.compiled):
                parents(name)
                with tempfile.TemporaryDirectory() as scratch:
                    target = Path(scratch, "compiled.pyc")
                    # checked against the source's hash, not its mtime: valid whatever the tarball says
                    py_compile.compile(
                        str(self.compiled[name]),
                        cfile=str(target),
                        dfile=name,
                        doraise=True,
                        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
                    )
                    info = tarfile.TarInfo(name)
                    info.size, info.mode = target.stat().st_size, 0o644
                    with open(target, "rb") as handle:
                        tar.addfile(info, handle)
            for name in sorted(self.data):
                parents(name)
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(self.data[name]), 0o644
                tar.addfile(info, io.BytesIO(self.data[name]))


def _python(rootfs: Rootfs) -> list[Path]:
    """The interpreter and its standard library; returns the ELF files among them."""
    prefix = Path(sys.base_prefix)
    binary = prefix / "bin" / _VERSION
    rootfs.add(f"usr/local/bin/{_VERSION}", binary)
    rootfs.links["usr/local/bin/python3"] = _VERSION
    rootfs.links["usr/local/bin/python"] = _VERSION
    elves = [binary]
    shared = prefix / "lib" / f"lib{_VERSION}.so.1.0"
    if shared.exists():  # built with --enable-shared (pyenv's is); its RUNPATH names the host's prefix
        rootfs.add(f"{_MULTIARCH}/{shared.name}", shared)
        elves.append(shared)
    stdlib = prefix / "lib" / _VERSION
    # The standard library is named by the interpreter's version and the binaries' contents (hashed):
    # reading its 3,000 files for every test session would cost more than the rest of the hash.
    version_key = hashlib.sha256(f"{sys.version} {prefix}".encode()).hexdigest()
    for path in _walk(stdlib, _STDLIB_SKIPPED, _STDLIB_SKIPPED_PREFIX):
        relative = path.relative_to(stdlib).as_posix()
        if "__pycache__" in relative and not path.name.endswith(f".{sys.implementation.cache_tag}.pyc"):
            continue  # keep the plain .pyc, not the -O and -OO ones
        if path.name.startswith(("_tkinter", "_test", "xxlimited")):
            continue  # Tk (and its X11 libraries) and CPython's own test modules
        rootfs.add(f"usr/local/lib/{_VERSION}/{relative}", path, f"{version_key}:{os.path.getsize(path)}")
        if path.suffix == ".so":
            elves.append(path)
    return elves


def _walk(top: Path, skipped: set[str], skipped_prefix: tuple[str, ...]) -> Iterator[Path]:
    for directory, subdirectories, names in os.walk(top):
        subdirectories[:] = [d for d in subdirectories if d not in skipped and not d.startswith(skipped_prefix)]
        for name in names:
            path = Path(directory, name)
            if not path.is_symlink():
                yield path


def _requirements(names: Iterable[str]) -> list[metadata.Distribution]:
    """The distributions ``names`` and everything they require (no extras), as installed here."""
    from packaging.requirements import Requirement

    found: dict[str, metadata.Distribution] = {}
    pending = list(names)
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        distribution = found[key] = metadata.distribution(name)
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return list(found.values())


def _packages(rootfs: Rootfs, extra: Sequence[str]) -> list[Path]:
    """The run-time packages, their dist-info, and laminar from this checkout; returns their ELF files."""
    site = f"usr/local/lib/{_VERSION}/site-packages"
    elves = []
    for distribution in _requirements((*PACKAGES, *extra)):
        for entry in distribution.files or []:
            relative = entry.as_posix()
            if relative.startswith("..") or _PACKAGE_SKIPPED.search(relative):
                continue  # scripts installed outside site-packages; headers, Cython sources, tests
            path = Path(str(distribution.locate_file(entry)))
            if not path.is_file():
                continue
            rootfs.add(f"{site}/{relative}", path, f"{entry.hash.mode}={entry.hash.value}" if entry.hash else None)
            if ".so" in path.name:
                elves.append(path)
    for path in sorted((ROOT / "laminar").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(ROOT)
            rootfs.add(f"{site}/{relative.as_posix()}", path)
            if path.suffix == ".py":  # compiled now, or every container would compile laminar again
                cache = relative.parent / "__pycache__" / f"{path.stem}.{sys.implementation.cache_tag}.pyc"
                rootfs.compiled[f"{site}/{cache.as_posix()}"] = path
    return elves


def _libraries(rootfs: Rootfs, elves: Iterable[Path]) -> None:
    """The shared libraries ``elves`` load, put where the dynamic loader looks without a cache: each at
    the path ``ldd`` found it (merged /usr: /lib is a link to usr/lib), plus what glibc opens itself."""
    needed: dict[str, Path] = {}
    for elf in elves:
        listing = subprocess.run(["ldd", str(elf)], capture_output=True, text=True, check=False).stdout
        for match in re.finditer(r"(?:=>\s*)?(/\S+)\s+\(0x", listing):
            found = Path(match.group(1))
            if "site-packages" not in found.parts and not found.name.startswith("libpython"):
                needed[str(found)] = found  # those two are copied with the packages and the interpreter
    for extra in ("libgcc_s.so.1",):  # dlopen'ed by glibc for thread cancellation: ldd cannot see it
        for directory in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"):
            if Path(directory, extra).exists():
                needed[f"{directory}/{extra}"] = Path(directory, extra)
                break
    for name, path in needed.items():
        arcname = name.lstrip("/")
        if arcname.startswith(("lib/", "lib64/")):
            arcname = "usr/" + arcname
        if not arcname.startswith("usr/local/"):
            rootfs.add(arcname, path.resolve())


def _base(rootfs: Rootfs) -> None:
    """The few system files a Python process (and a person debugging one) expects."""
    for link, target in {"lib": "usr/lib", "lib64": "usr/lib64", "bin": "usr/bin", "sbin": "usr/sbin"}.items():
        rootfs.links[link] = target
    sh = Path(shutil.which("dash") or "/bin/sh").resolve()
    rootfs.add("usr/bin/dash", sh)
    rootfs.links["usr/bin/sh"] = "dash"
    certificates = Path("/etc/ssl/certs/ca-certificates.crt")
    if certificates.exists():  # for S3 over https from inside the container
        rootfs.add("etc/ssl/certs/ca-certificates.crt", certificates)
    rootfs.data["etc/passwd"] = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n"
    rootfs.data["etc/group"] = b"root:x:0:\nnogroup:x:65534:\n"
    rootfs.data["etc/hosts"] = b"127.0.0.1 localhost\n"
    rootfs.dirs.update({"tmp": 0o1777, "root": 0o700, "laminar": 0o777, "dev": 0o755, "proc": 0o755, "sys": 0o755})


def rootfs(extra: Sequence[str] = ()) -> Rootfs:
    """Everything the test image holds; ``extra``: more installed distributions (``("ray",)``)."""
    built = Rootfs()
    _base(built)
    elves = _python(built) + _packages(built, extra)
    _libraries(built, [*elves, Path(shutil.which("dash") or "/bin/sh").resolve()])
    built.data[MARKER.lstrip("/")] = MARKER_TEXT.encode()
    built.data[f"usr/local/lib/{_VERSION}/site-packages/{MODULE}.py"] = (
        b'"""A module only the laminar test image has."""\n\nWHERE = "image"\n'
    )
    return built


def _podman(podman: str) -> str:
    found = shutil.which(podman)
    if found is None:
        raise RuntimeError(f"{podman} is not installed: apt-get install podman runc (see docs/containers-findings.md)")
    return found


def exists(reference: str, podman: str = "podman") -> bool:
    return subprocess.run([_podman(podman), "image", "exists", reference], check=False).returncode == 0


def ensure_image(podman: str = "podman", *, extra: Sequence[str] = (), quiet: bool = True) -> str:
    """The test image's reference, ``localhost/laminar-test:<hash>``; built (~5 s) unless it exists.

    ``extra`` adds installed distributions and what they require (the image is then named
    ``localhost/laminar-test-<extra>``): ``("ray",)`` makes an image Ray's ``image_uri`` can start workers in.
    """
    started = time.monotonic()
    contents = rootfs(extra)
    repository = "-".join((REPOSITORY, *extra))
    reference = f"{repository}:{contents.digest()}"
    if exists(reference, podman):
        return reference
    lock_path = Path(tempfile.gettempdir(), f"laminar-test-image-{os.getuid()}.lock")  # podman stores per user
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be building this very image
        if exists(reference, podman):
            return reference
        command = [
            _podman(podman),
            "import",
            "--change",
            "ENV=PATH=/usr/local/bin:/usr/bin:/bin",
            "--change",
            "ENV=LANG=C.UTF-8",
            "--change",
            # Debian's own Python (when it builds the image) looks in dist-packages, not site-packages
            f"ENV=PYTHONPATH=/usr/local/lib/{_VERSION}/site-packages",
            "--change",
            "WORKDIR=/laminar",
            "--change",
            'CMD=["python3"]',
            "-",
            reference,
        ]
        with tempfile.TemporaryFile() as errors:
            importer = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
            assert importer.stdin is not None
            try:
                contents.write(importer.stdin)  # type: ignore[arg-type]
                importer.stdin.close()
            except BrokenPipeError:
                pass  # podman stopped reading: its error says why
            if importer.wait() != 0:
                errors.seek(0)
                told = errors.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"podman import of {reference} failed ({importer.returncode}): {told}")
        _prune(podman, repository, reference)
    if not quiet:
        print(f"built {reference} in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return reference


KEPT = 3  # images of one repository kept: every change of laminar's sources makes a new one (~260 MB)


def _prune(podman: str, repository: str, reference: str) -> None:
    """Remove all but the newest :data:`KEPT` images of ``repository`` (one a container uses stays)."""
    listed = subprocess.run(
        [_podman(podman), "images", "--filter", f"reference={repository}", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()  # newest first
    old = [image for image in listed if image != reference][KEPT - 1 :]
    if old:
        subprocess.run([_podman(podman), "rmi", *old], capture_output=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--podman", default="podman")
    parser.add_argument("--extra", action="append", default=[], help="another distribution to copy in (ray)")
    parser.add_argument("--tar", help="only write the root filesystem tarball to this path")
    parser.add_argument("--list", action="store_true", help="only list what the image holds, with sizes")
    arguments = parser.parse_args()
    if arguments.list:
        contents = rootfs(arguments.extra)
        for name, path in sorted(contents.files.items()):
            print(os.path.getsize(path), name)
        return
    if arguments.tar:
        with open(arguments.tar, "wb") as out:
            rootfs(arguments.extra).write(out)
        return
    print(ensure_image(arguments.podman, extra=arguments.extra, quiet=False))


if __name__ == "__main__":
    main()
