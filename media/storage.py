"""Where images live: a small interface, and a local-folder implementation of it (the other one,
for S3-compatible object stores, is media/s3_storage.py; media/__init__.py picks one).

Keys are validated by one regex (`STORAGE_KEY_RE`) before they come near a path, so a key can
never name anything outside the media root: no `..`, no absolute paths, no backslashes, no
percent-encodings, no NUL bytes, ASCII only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import uuid
from pathlib import Path
from typing import Protocol, runtime_checkable

from media.formats import BY_EXTENSION, EXTENSIONS
from models.errors import ServiceUnavailable

KINDS = ("originals", "previews", "results", "thumbnails")

# `re.fullmatch` (not `$`, which also matches before a trailing newline).
STORAGE_KEY_RE = re.compile(
    rf"({'|'.join(KINDS)})/[0-9]{{1,20}}/[0-9a-f]{{32}}(-[0-9]{{1,2}})?\.({'|'.join(EXTENSIONS)})"
)


class InvalidKey(ValueError):
    """A storage key that does not match STORAGE_KEY_RE (or would leave the storage root)."""


class StorageNotFound(KeyError):
    """No object is stored under this key."""


class StorageUnavailable(ServiceUnavailable, OSError):
    """The object store did not answer, or refused us (a 503: nothing was changed).

    Also an OSError, as a failing disk's errors are: code that copes with LocalStorage's I/O
    failures (the worker's clean-up of half-stored results) copes with the store's the same way.
    """

    code = "storage_unavailable"


def is_valid_key(key: object) -> bool:
    return isinstance(key, str) and STORAGE_KEY_RE.fullmatch(key) is not None


def validate_key(key: object) -> str:
    """Return `key` if it is a valid storage key, else raise InvalidKey."""
    if isinstance(key, str) and STORAGE_KEY_RE.fullmatch(key) is not None:
        return key
    raise InvalidKey(f"invalid storage key: {key!r}"[:200])


def content_type_for_key(key: str) -> str:
    return BY_EXTENSION[validate_key(key).rsplit(".", 1)[1]].content_type


def new_key(kind: str, user_id: int, extension: str, index: int | None = None) -> str:
    """A fresh unguessable key, e.g. `results/42/<uuid4hex>-1.png`.

    `extension` may carry a leading dot and may be `jpeg`; `index` (0-99) numbers the several
    results of one generation.
    """
    if kind not in KINDS:
        raise InvalidKey(f"unknown storage kind {kind!r}; expected one of {', '.join(KINDS)}")
    if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id < 0:
        raise InvalidKey(f"user_id must be a non-negative integer, got {user_id!r}")
    ext = extension.lower().removeprefix(".")
    ext = "jpg" if ext == "jpeg" else ext
    if ext not in EXTENSIONS:
        raise InvalidKey(f"unsupported extension {extension!r}; expected jpg, png or webp")
    suffix = ""
    if index is not None:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= 99:
            raise InvalidKey(f"index must be an integer from 0 to 99, got {index!r}")
        suffix = f"-{index}"
    return validate_key(f"{kind}/{user_id}/{uuid.uuid4().hex}{suffix}.{ext}")


@runtime_checkable
class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, replacing any previous object atomically."""
        ...

    def get(self, key: str) -> bytes:
        """The object's bytes; StorageNotFound if there is none."""
        ...

    def delete(self, key: str) -> bool:
        """Remove the object; True if it existed."""
        ...

    def exists(self, key: str) -> bool: ...

    def local_path(self, key: str) -> Path | None:
        """A file path for `send_file`, or None when the backend keeps no local files.

        StorageNotFound if the backend is local and the object is missing.
        """
        ...

    def presigned_url(self, key: str, *, ttl_seconds: int) -> str | None:
        """A URL the store itself serves the object at for `ttl_seconds`, or None when the
        backend has no such thing (local files are served by the web process)."""
        ...

    def check(self) -> None:
        """Raises unless the store can be used now (readiness)."""
        ...

    def keys(self, prefix: str = "") -> list[str]:
        """Every stored key starting with `prefix` (what the store holds: audits, tests)."""
        ...


class LocalStorage(Storage):
    """Objects as files under `root`, one folder per kind and user."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root).resolve()
        self._root.mkdir(parents=True, exist_ok=True)

    @property
    def root(self) -> Path:
        return self._root

    def _path(self, key: str) -> Path:
        key = validate_key(key)
        kind, user, name = key.split("/")
        kind_folder = self._root / kind
        user_folder = kind_folder / user
        # The regex already rules out `..` and the root is resolved once, so the path can only
        # leave the root through a symlinked kind or user folder: refuse those. Two lstat calls
        # instead of resolve()'s realpath, an lstat per component of the whole path on every
        # call, which the worker makes for every file of every job.
        if _is_symlink(kind_folder) or _is_symlink(user_folder):
            raise InvalidKey(f"storage key escapes the storage root: {key!r}")
        return user_folder / name

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        expected_type = content_type_for_key(key)
        if content_type != expected_type:
            raise ValueError(f"content type {content_type!r} does not match key {key!r}")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError("data must be bytes")
        try:
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
        except FileNotFoundError:  # the user's first file of this kind: make its folders
            # (only then: a mkdir per file is a system call wasted on every other file)
            path.parent.mkdir(parents=True, exist_ok=True)
            path = self._path(key)  # check the folders again, now that they exist
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            # rename() replaces the directory entry itself, so a planted symlink is overwritten,
            # never followed.
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        _fsync_dir(path.parent)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError as exc:
            raise StorageNotFound(key) from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # the object is a symlink: not ours, refuse it
                raise StorageNotFound(key) from exc
            raise
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise StorageNotFound(key)
            return file.read()

    def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            os.unlink(path)  # removes a symlink itself, never its target
        except FileNotFoundError:
            return False
        return True

    def exists(self, key: str) -> bool:
        return _is_regular_file(self._path(key))

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        if not _is_regular_file(path):
            raise StorageNotFound(key)
        return path

    def presigned_url(self, key: str, *, ttl_seconds: int) -> str | None:
        validate_key(key)
        return None

    def check(self) -> None:
        if not self._root.is_dir():
            raise FileNotFoundError(f"the media root {self._root} is gone")

    def keys(self, prefix: str = "") -> list[str]:
        found = (path.relative_to(self._root).as_posix() for path in self._root.rglob("*")
                 if _is_regular_file(path))
        return sorted(key for key in found if is_valid_key(key) and key.startswith(prefix))


def _is_symlink(path: Path) -> bool:
    """Whether `path` is a symlink (a missing one is not: put() creates it as a folder)."""
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _fsync_dir(directory: Path) -> None:
    # Make the rename durable; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
