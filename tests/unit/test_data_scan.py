"""The bounded size scan of a project folder: what `du -s` and `find | wc -l` count, never
following links out of the folder, stopping at the bound with a lower bound, and naming an
unreadable subfolder instead of failing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from aifactory_hub.data.scan import measure


def du_bytes(path: Path) -> int:
    out = subprocess.run(["du", "-s", "--block-size=1", str(path)], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    return int(out.split()[0])


def find_count(path: Path) -> int:
    out = subprocess.run(["find", str(path)], capture_output=True, text=True, check=True).stdout
    return len(out.splitlines())


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "ai-alpha"
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "a.bin").write_bytes(os.urandom(10_000))
    (root / "data" / "b.txt").write_text("hello\n")
    (root / "model.pt").write_bytes(b"\0" * 70_000)
    (root / "empty").mkdir()
    return root


def test_figures_match_du_and_find(folder: Path):
    size = measure(folder, 1000)
    assert size.exists and size.complete and size.error == ""
    assert size.bytes == du_bytes(folder)
    assert size.files == find_count(folder) == 7
    assert size.apparent_bytes >= 80_006  # the files' lengths, plus the folders'


def test_a_sparse_file_counts_what_it_holds_as_du_does(folder: Path):
    with open(folder / "sparse", "wb") as f:
        f.truncate(1 << 30)  # 1 GiB long, nothing written
    size = measure(folder, 1000)
    assert size.bytes == du_bytes(folder) and size.bytes < 1 << 20
    assert size.apparent_bytes > 1 << 30


def test_a_hard_linked_file_counts_once(folder: Path):
    os.link(folder / "model.pt", folder / "data" / "same.pt")
    size = measure(folder, 1000)
    assert size.bytes == du_bytes(folder)
    assert size.files == find_count(folder)


def test_links_are_counted_as_themselves_never_followed(folder: Path, tmp_path: Path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "big").write_bytes(os.urandom(200_000))
    before = measure(folder, 1000)
    os.symlink(outside, folder / "to-a-folder")
    os.symlink(outside / "big", folder / "data" / "to-a-file")
    os.symlink("/", folder / "to-root")
    os.symlink(folder, folder / "data" / "loop")  # a cycle, harmless when never followed
    after = measure(folder, 1000)
    assert after.files == before.files + 4
    assert after.bytes - before.bytes < 200_000  # a link's own few bytes at most
    assert after.bytes == du_bytes(folder)  # du -s does not follow links either
    assert after.complete


def test_the_folder_itself_a_link_is_not_measured(folder: Path, tmp_path: Path):
    link = tmp_path / "ai-beta"
    os.symlink(folder, link)
    size = measure(link, 1000)
    assert not size.complete and "symbolic link" in size.error and size.bytes == 0


def test_a_missing_folder_is_reported_as_missing(tmp_path: Path):
    size = measure(tmp_path / "never-made", 1000)
    assert not size.exists and size.files == 0 and size.error == ""


def test_the_scan_stops_at_the_bound_and_says_it_is_a_lower_bound(tmp_path: Path):
    root = tmp_path / "many"
    root.mkdir()
    for i in range(50):
        (root / f"f{i}").write_bytes(b"x" * 5000)
    exact = measure(root, 51)  # the folder and its 50 files: exactly the bound
    assert exact.complete and exact.files == 51 and exact.bytes == du_bytes(root)
    bounded = measure(root, 20)
    assert not bounded.complete and bounded.files == 20
    assert "lower bound" in bounded.error
    assert 0 < bounded.bytes < exact.bytes


def test_the_bound_must_be_positive(tmp_path: Path):
    with pytest.raises(ValueError, match="max_entries"):
        measure(tmp_path, 0)


def test_a_folder_that_cannot_be_listed_is_named_and_the_walk_goes_on(folder: Path, monkeypatch):
    original = os.scandir

    def refusing(path):  # an unreadable folder, the way a non-root scanner meets one
        if str(path).endswith("raw"):
            raise PermissionError(13, "Permission denied", str(path))
        return original(path)

    monkeypatch.setattr(os, "scandir", refusing)
    size = measure(folder, 1000)
    assert not size.complete and "raw: Permission denied" in size.error
    assert size.files == 6  # raw itself is counted, what is inside it is not
    assert (folder / "model.pt").stat().st_blocks * 512 <= size.bytes
