"""The scratch purge on an injected clock (files aged with os.utime): old files go, fresh
ones stay, emptied subfolders go but never the scratch folder, and links are removed as
themselves, their targets never touched."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aifactory_hub.data import purge as purging
from aifactory_hub.data.purge import purge

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
DAYS = 30


def age(path: Path, days: float) -> None:
    """Make `path` (itself, never a link's target) last changed `days` before NOW."""
    when = (NOW - timedelta(days=days)).timestamp()
    os.utime(path, (when, when), follow_symlinks=False)


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    root = tmp_path / "scratch" / "ai-alpha"
    (root / "run1" / "ckpt").mkdir(parents=True)
    (root / "run2").mkdir()
    ages = {"old.bin": 40, "fresh.bin": 2, "run1/ckpt/e1.pt": 31, "run1/ckpt/e2.pt": 35,
            "run1/log.txt": 45, "run2/now.txt": 0}  # fmt: skip
    for name, days in ages.items():
        (root / name).write_bytes(os.urandom(5000))
        age(root / name, days)
    return root


def test_old_files_go_fresh_ones_and_their_folders_stay(scratch: Path):
    blocks = sum((scratch / n).stat().st_blocks * 512 for n in
                 ("old.bin", "run1/ckpt/e1.pt", "run1/ckpt/e2.pt", "run1/log.txt"))  # fmt: skip
    ckpt_blocks = (scratch / "run1" / "ckpt").stat().st_blocks * 512
    run1_blocks = (scratch / "run1").stat().st_blocks * 512
    done = purge(scratch, DAYS, NOW)
    assert tree(scratch) == {"fresh.bin", "run2", "run2/now.txt"}
    assert done.removed == 6 and done.folders == 2  # 4 files, then ckpt and run1, emptied
    assert done.bytes == blocks + ckpt_blocks + run1_blocks
    assert done.errors == []


def test_the_scratch_folder_itself_stays_when_everything_goes(scratch: Path):
    done = purge(scratch, DAYS, NOW + timedelta(days=365))
    assert scratch.is_dir() and tree(scratch) == set()
    assert done.removed == 9


def test_nothing_is_old_nothing_goes(scratch: Path):
    before = tree(scratch)
    assert purge(scratch, DAYS, NOW - timedelta(days=60)).removed == 0
    assert tree(scratch) == before


def test_a_fresh_empty_folder_stays_an_old_empty_one_goes(scratch: Path):
    (scratch / "made-by-a-job").mkdir()
    (scratch / "forgotten").mkdir()
    age(scratch / "forgotten", 90)
    purge(scratch, DAYS, NOW)
    assert (scratch / "made-by-a-job").is_dir() and not (scratch / "forgotten").exists()


def test_a_link_out_is_removed_as_itself_its_target_untouched(scratch: Path, tmp_path: Path):
    outside = tmp_path / "home-of-bob"
    outside.mkdir()
    (outside / "thesis.tex").write_text("mine")
    age(outside / "thesis.tex", 400)
    age(outside, 400)
    os.symlink(outside, scratch / "to-a-folder")
    os.symlink(outside / "thesis.tex", scratch / "run2" / "to-a-file")
    os.symlink("/etc", scratch / "fresh-link")
    age(scratch / "to-a-folder", 50)
    age(scratch / "run2" / "to-a-file", 50)
    done = purge(scratch, DAYS, NOW)
    assert not os.path.lexists(scratch / "to-a-folder")
    assert not os.path.lexists(scratch / "run2" / "to-a-file")
    assert os.path.islink(scratch / "fresh-link")  # young: stays
    assert (outside / "thesis.tex").read_text() == "mine"  # never followed, never touched
    assert Path("/etc/passwd").exists()
    assert done.errors == []


def test_the_scratch_folder_a_link_purges_nothing(scratch: Path, tmp_path: Path):
    link = tmp_path / "scratch" / "ai-beta"
    os.symlink(scratch, link)
    done = purge(link, DAYS, NOW)
    assert done.removed == 0 and done.errors
    assert (scratch / "old.bin").exists()


def test_a_missing_scratch_folder_purges_nothing(tmp_path: Path):
    done = purge(tmp_path / "never-made", DAYS, NOW)
    assert done.removed == 0 and done.errors == []


def test_a_folder_nested_too_deep_is_named_and_left(scratch: Path, monkeypatch):
    monkeypatch.setattr(purging, "MAX_DEPTH", 2)
    deep = scratch / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "old").write_text("x")
    age(deep / "old", 90)
    done = purge(scratch, DAYS, NOW)
    assert (deep / "old").exists() and any("nested deeper" in e for e in done.errors)
    assert not (scratch / "old.bin").exists()  # the rest was purged


def test_the_age_must_be_positive(scratch: Path):
    with pytest.raises(ValueError, match="older_than_days"):
        purge(scratch, 0, NOW)
