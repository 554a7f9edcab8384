"""LocalStorage and storage keys, on a real temporary folder."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from media.storage import (
    STORAGE_KEY_RE,
    InvalidKey,
    LocalStorage,
    Storage,
    StorageNotFound,
    content_type_for_key,
    is_valid_key,
    new_key,
    validate_key,
)

HEX = "0123456789abcdef" * 2
GOOD_KEY = f"originals/42/{HEX}.jpg"


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media")


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())


# --- keys ----------------------------------------------------------------------------------


def test_new_key_shapes() -> None:
    key = new_key("originals", 42, "jpg")
    assert re.fullmatch(r"originals/42/[0-9a-f]{32}\.jpg", key)
    assert re.fullmatch(r"results/7/[0-9a-f]{32}-3\.png", new_key("results", 7, ".PNG", 3))
    assert new_key("thumbnails", 0, "jpeg").endswith(".jpg")
    assert new_key("results", 1, "webp", 0).endswith("-0.webp")
    assert new_key("originals", 1, "jpg") != new_key("originals", 1, "jpg")
    assert all(is_valid_key(new_key(kind, 9, "png")) for kind in ("originals", "results"))


@pytest.mark.parametrize(
    ("kind", "user_id", "extension", "index"),
    [
        ("avatars", 1, "jpg", None),
        ("../originals", 1, "jpg", None),
        ("originals", -1, "jpg", None),
        ("originals", True, "jpg", None),
        ("originals", "1", "jpg", None),
        ("originals", 10**20, "jpg", None),
        ("originals", 1, "gif", None),
        ("originals", 1, "jpg/../../x", None),
        ("originals", 1, "jpg", 100),
        ("originals", 1, "jpg", -1),
    ],
)
def test_new_key_refuses_bad_parts(
    kind: str, user_id: int, extension: str, index: int | None
) -> None:
    with pytest.raises(InvalidKey):
        new_key(kind, user_id, extension, index)


BAD_KEYS = [
    "",
    "../etc/passwd",
    "/etc/passwd",
    f"/originals/42/{HEX}.jpg",
    f"originals/42/../../{HEX}.jpg",
    f"originals/../42/{HEX}.jpg",
    f"originals/42/{HEX}.jpg/..",
    f"originals/42/{HEX}.jpg\n",
    f"originals/42/{HEX}.jpg\x00.png",
    f"\x00originals/42/{HEX}.jpg",
    f"originals%2F42%2F{HEX}.jpg",
    f"originals/%2e%2e/{HEX}.jpg",
    f"originals/42/%2e%2e%2f{HEX}.jpg",
    f"originals\\42\\{HEX}.jpg",
    f"originals//42/{HEX}.jpg",
    f"originals/42//{HEX}.jpg",
    f"./originals/42/{HEX}.jpg",
    f"Originals/42/{HEX}.jpg",
    f"originals/42/{HEX.upper()}.jpg",
    f"originals/42/{HEX}.JPG",
    f"originals/42/{HEX}.jpeg",
    f"originals/42/{HEX}.gif",
    f"originals/42/{HEX[:31]}.jpg",
    f"originals/42/{HEX}-100.jpg",
    f"originals/٤٢/{HEX}.jpg",  # Arabic-Indic digits
    f"originals/42/{HEX}.jpg ",
    f"avatars/42/{HEX}.jpg",
    f"originals/{'9' * 21}/{HEX}.jpg",
    f"file:///originals/42/{HEX}.jpg",
    f"C:\\originals\\42\\{HEX}.jpg",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused_everywhere(storage: LocalStorage, key: str) -> None:
    assert not is_valid_key(key)
    with pytest.raises(InvalidKey):
        validate_key(key)
    with pytest.raises(InvalidKey):
        storage.put(key, b"data", "image/jpeg")
    with pytest.raises(InvalidKey):
        storage.get(key)
    with pytest.raises(InvalidKey):
        storage.delete(key)
    with pytest.raises(InvalidKey):
        storage.exists(key)
    with pytest.raises(InvalidKey):
        storage.local_path(key)
    assert files_under(storage.root) == []


@pytest.mark.parametrize("key", [None, 42, b"originals/42/x.jpg", Path(GOOD_KEY)])
def test_non_string_keys_are_refused(storage: LocalStorage, key: object) -> None:
    with pytest.raises(InvalidKey):
        storage.get(key)  # type: ignore[arg-type]


def test_key_regex_and_content_types() -> None:
    assert STORAGE_KEY_RE.fullmatch(GOOD_KEY)
    assert is_valid_key(f"results/1/{HEX}-12.webp")
    assert content_type_for_key(GOOD_KEY) == "image/jpeg"
    assert content_type_for_key(f"results/1/{HEX}-1.png") == "image/png"
    assert content_type_for_key(f"thumbnails/1/{HEX}.webp") == "image/webp"


# --- LocalStorage --------------------------------------------------------------------------


def test_local_storage_is_a_storage(storage: LocalStorage) -> None:
    assert isinstance(storage, Storage)


def test_put_get_exists_delete_round_trip(storage: LocalStorage) -> None:
    key = new_key("originals", 42, "jpg")
    assert not storage.exists(key)
    storage.put(key, b"\xff\xd8first", "image/jpeg")
    assert storage.exists(key)
    assert storage.get(key) == b"\xff\xd8first"
    storage.put(key, b"\xff\xd8second", "image/jpeg")  # overwrite
    assert storage.get(key) == b"\xff\xd8second"
    assert storage.delete(key) is True
    assert not storage.exists(key)
    assert storage.delete(key) is False


def test_put_creates_folders_and_leaves_no_temp_files(storage: LocalStorage) -> None:
    key = new_key("results", 7, "png", 2)
    storage.put(key, bytearray(b"png-bytes"), "image/png")  # type: ignore[arg-type]
    assert files_under(storage.root) == [key]
    path = storage.local_path(key)
    assert path is not None and path.read_bytes() == b"png-bytes"
    assert path.is_relative_to(storage.root)


def test_stored_files_are_private_to_the_service_user(storage: LocalStorage) -> None:
    key = new_key("originals", 1, "jpg")
    storage.put(key, b"face", "image/jpeg")
    path = storage.local_path(key)
    assert path is not None
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_failed_put_keeps_the_old_object_and_leaves_nothing_behind(storage: LocalStorage) -> None:
    key = new_key("originals", 3, "jpg")
    storage.put(key, b"old", "image/jpeg")
    released = memoryview(b"new")
    released.release()  # writing it fails half way through put()
    with pytest.raises(ValueError):
        storage.put(key, released, "image/jpeg")  # type: ignore[arg-type]
    assert storage.get(key) == b"old"
    assert files_under(storage.root) == [key]


def test_put_refuses_a_content_type_that_contradicts_the_key(storage: LocalStorage) -> None:
    with pytest.raises(ValueError):
        storage.put(new_key("originals", 1, "jpg"), b"x", "image/png")
    with pytest.raises(ValueError):
        storage.put(new_key("originals", 1, "png"), b"x", "text/html")
    assert files_under(storage.root) == []


def test_missing_objects(storage: LocalStorage) -> None:
    key = new_key("thumbnails", 5, "jpg")
    with pytest.raises(StorageNotFound):
        storage.get(key)
    with pytest.raises(KeyError):  # StorageNotFound is a KeyError
        storage.get(key)
    with pytest.raises(StorageNotFound):
        storage.local_path(key)
    assert storage.delete(key) is False
    assert storage.exists(key) is False


def test_root_may_be_given_as_str_and_is_created(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b"
    storage = LocalStorage(str(root))
    assert root.is_dir() and storage.root == root.resolve()


def test_symlinked_user_folder_escaping_the_root_is_refused(
    storage: LocalStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (storage.root / "originals").mkdir()
    (storage.root / "originals" / "66").symlink_to(outside, target_is_directory=True)
    key = f"originals/66/{HEX}.jpg"
    with pytest.raises(InvalidKey):
        storage.put(key, b"leak", "image/jpeg")
    with pytest.raises(InvalidKey):
        storage.get(key)
    assert list(outside.iterdir()) == []


def test_symlinked_object_is_never_followed(storage: LocalStorage, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"top secret")
    key = f"originals/5/{HEX}.jpg"
    link = storage.root / "originals" / "5" / f"{HEX}.jpg"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)

    with pytest.raises(StorageNotFound):
        storage.get(key)
    assert storage.exists(key) is False
    with pytest.raises(StorageNotFound):
        storage.local_path(key)

    storage.put(key, b"\xff\xd8ok", "image/jpeg")  # replaces the link itself
    assert not link.is_symlink() and storage.get(key) == b"\xff\xd8ok"
    assert secret.read_bytes() == b"top secret"

    os.unlink(link)
    link.symlink_to(secret)
    assert storage.delete(key) is True  # removes the link, not the target
    assert secret.read_bytes() == b"top secret"


def test_storage_root_that_is_itself_a_symlink_works(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    storage = LocalStorage(tmp_path / "alias")
    key = new_key("results", 1, "webp")
    storage.put(key, b"RIFF", "image/webp")
    assert (real / key).read_bytes() == b"RIFF"


def test_symlinked_kind_folder_escaping_the_root_is_refused(
    storage: LocalStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside-kind"
    outside.mkdir()
    (storage.root / "results").symlink_to(outside, target_is_directory=True)
    key = f"results/7/{HEX}.jpg"
    with pytest.raises(InvalidKey):
        storage.put(key, b"leak", "image/jpeg")
    with pytest.raises(InvalidKey):
        storage.get(key)
    assert list(outside.iterdir()) == []
