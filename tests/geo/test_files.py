"""``geo.files``: the one atomic writer (umask modes, missing folders, nothing left behind)."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from geo.errors import InputError, OutputError
from geo.files import OutputExistsError, atomic_output, check_output_folder, process_umask, write_atomic


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore the process umask after a test that sets it."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_files_get_the_mode_the_umask_implies(tmp_path: Path, umask: None, mask: int, mode: int):
    os.umask(mask)
    assert process_umask() == mask
    assert _mode(write_atomic(tmp_path / "r.csv", "a,b\n")) == mode
    with atomic_output(tmp_path / "d.gpkg") as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)  # as a writer that makes private files would
        os.close(fd)
    assert _mode(tmp_path / "d.gpkg") == mode


def test_write_atomic_writes_bytes_and_text_and_replaces(tmp_path: Path):
    target = tmp_path / "报告.html"
    assert write_atomic(target, "党群服务中心") == target
    assert target.read_text(encoding="utf-8") == "党群服务中心"
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["报告.html"]


def test_a_missing_folder_is_one_clear_error_and_no_folder_is_made(tmp_path: Path):
    target = tmp_path / "no" / "such" / "r.csv"
    with pytest.raises(OutputError) as caught:
        write_atomic(target, "x")
    exc = caught.value
    assert exc.field == "output"
    assert f"`{tmp_path / 'no' / 'such'}` does not exist" in exc.message
    assert isinstance(exc, InputError) and isinstance(exc, OSError)
    assert not (tmp_path / "no").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is not a folder"):
        check_output_folder(tmp_path / "file" / "r.csv")
    with pytest.raises(OutputError, match="it is a folder"):
        check_output_folder(tmp_path)


def test_make_folder_is_only_on_request(tmp_path: Path):
    target = write_atomic(tmp_path / "cache" / "dangjian-map" / "x.gpkg", b"x", make_folder=True)
    assert target.read_bytes() == b"x"


def test_a_failed_writer_keeps_the_old_file_and_leaves_nothing(tmp_path: Path):
    target = tmp_path / "d.gpkg"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="boom"), atomic_output(target) as tmp:
        tmp.write_bytes(b"half")
        Path(f"{tmp}-journal").write_bytes(b"side file")  # as SQLite would
        raise RuntimeError("boom")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["d.gpkg"]


def test_side_files_of_a_writer_are_removed(tmp_path: Path):
    with atomic_output(tmp_path / "d.gpkg") as tmp:
        tmp.write_bytes(b"done")
        Path(f"{tmp}-wal").write_bytes(b"")
    assert [p.name for p in tmp_path.iterdir()] == ["d.gpkg"]


def test_a_writer_that_writes_nothing_is_an_error(tmp_path: Path):
    with pytest.raises(RuntimeError, match="nothing was written"), atomic_output(tmp_path / "d.gpkg"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_without_replace_a_taken_name_keeps_the_file_there(tmp_path: Path):
    target = tmp_path / "d.gpkg"
    write_atomic(target, b"new", replace=False)
    before = target.stat().st_ino
    with pytest.raises(OutputExistsError):
        write_atomic(target, b"other", replace=False)
    assert target.read_bytes() == b"new" and target.stat().st_ino == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.gpkg"]


def test_left_overs_of_a_killed_writer_are_removed_after_an_hour(tmp_path: Path):
    old = tmp_path / ".r.csv.tmp-killed1"
    old.mkdir()
    (old / "r.csv").write_bytes(b"half")
    hour_ago = time.time() - 3700
    os.utime(old / "r.csv", (hour_ago, hour_ago))
    os.utime(old, (hour_ago, hour_ago))
    fresh = tmp_path / ".r.csv.tmp-running"
    fresh.mkdir()
    (fresh / "r.csv").write_bytes(b"being written")
    write_atomic(tmp_path / "r.csv", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".r.csv.tmp-running", "r.csv"]


def test_the_umask_is_read_without_proc_too(umask: None, monkeypatch: pytest.MonkeyPatch):
    def no_proc(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError("/proc/self/status")

    monkeypatch.setattr("geo.files.open", no_proc, raising=False)
    os.umask(0o027)
    assert process_umask() == 0o027
    assert os.umask(0o027) == 0o027  # and it is left as it was
