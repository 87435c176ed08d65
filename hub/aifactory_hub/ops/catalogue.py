"""The demo catalogue's files, made by `up` on this machine: no download, ever.

`stocks-monthly` is the table of monthly stock prices that matplotlib ships as sample data;
`stocks-trend` is a one-layer PyTorch model trained on it here, on the CPU, seeded, so every
install makes the same small model. Training runs in a child process of the venv's python
(`python -m aifactory_hub.ops.catalogue --train OUT --csv CSV`), so `up` itself never imports
torch. A file that exists is kept (a second `up` changes nothing), but its owner and mode are
set again each time, so an item made before its project's group existed is opened to the
group on the next `up`.

Who may read a file is the filesystem's to enforce, not only the catalogue's to say: an item
open to every project is 0644; one open to some projects is 0640 and group-owned by the first
project's POSIX group (named like its account), with a read ACL entry for each further one.
Where such a group does not exist yet, the file stays root-only (0600) and the log says so.
"""

from __future__ import annotations

import argparse
import grp
import logging
import math
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aifactory_hub import slurm
from aifactory_hub.site import Site
from aifactory_hub.site.storage import EVERY_PROJECT, CatalogueItem

log = logging.getLogger(__name__)

DATASET = "stocks-monthly"
MODEL = "stocks-trend"
SAMPLE = "Stocks.csv"  # in matplotlib's mpl-data/sample_data
WINDOW = 6  # months of log prices the model sees
STEPS = 300
SEED = 20261205
LEARNING_RATE = 0.001
TRAIN_TIMEOUT_S = 600.0
FOLDER_MODE = 0o755
OPEN_MODE, GROUP_MODE, ROOT_ONLY = 0o644, 0o640, 0o600


@dataclass(frozen=True)
class Access:
    """Who may read a catalogue file: its group (None: root's), mode and extra ACL groups."""

    group: str | None
    mode: int
    acl_groups: tuple[str, ...] = ()


def access_of(item: CatalogueItem, group_exists: Callable[[str], bool]) -> Access:
    """The owner and mode an item's file gets; `group_exists(name)` says whether a project's
    POSIX group is there yet (a pure function of both, so it is unit-tested)."""
    if EVERY_PROJECT in item.projects:
        return Access(None, OPEN_MODE)
    missing = [account for account in item.projects if not group_exists(account)]
    if missing:
        return Access(None, ROOT_ONLY)
    first, *others = item.projects
    return Access(first, GROUP_MODE, tuple(others))


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def protect(item: CatalogueItem, path: Path) -> Access:
    """Give the file the owner, mode and ACL its item's projects call for."""
    access = access_of(item, _group_exists)
    gid = grp.getgrnam(access.group).gr_gid if access.group else 0
    os.chown(path, 0, gid)
    os.chmod(path, access.mode)
    if access.acl_groups:
        entries = ",".join(f"g:{group}:r" for group in access.acl_groups)
        slurm.run(["setfacl", "-m", entries, str(path)])
    if access.mode == ROOT_ONLY:
        missing = [a for a in item.projects if not _group_exists(a)]
        log.warning(
            "catalogue item %s: the POSIX group of %s does not exist yet, so %s stays "
            "root-only (0600) until a later `up` finds it",
            item.name, ", ".join(missing), path,
        )  # fmt: skip
    return access


def _folder(path: Path) -> None:
    """Make the file's missing folders 0755 whatever the umask (everyone must reach an item
    open to every project); a folder that exists is the site's and keeps its mode."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        os.chmod(folder, FOLDER_MODE)


def _sample_csv() -> Path:
    from matplotlib import cbook  # the dataset ships with matplotlib, a kept dependency

    return Path(cbook.get_sample_data(SAMPLE, asfileobj=False))


def _partial(path: Path) -> Path:
    """Where a file is written before it takes its name: a crash never leaves a half file
    under the item's name, which the next `up` would keep."""
    return path.with_name(f".{path.name}.new")


def make_dataset(item: CatalogueItem) -> bool:
    """Copy matplotlib's sample table to the item's path; False if it was there already."""
    path = Path(item.path)
    _folder(path)
    made = not path.exists()
    if made:
        tmp = _partial(path)
        shutil.copyfile(_sample_csv(), tmp)
        os.chmod(tmp, ROOT_ONLY)
        os.replace(tmp, path)
        log.info("catalogue item %s: copied matplotlib's %s to %s", item.name, SAMPLE, path)
    protect(item, path)
    return made


def make_model(item: CatalogueItem, dataset: Path) -> bool:
    """Train the model on the dataset in a child python; False if the file was there."""
    path = Path(item.path)
    _folder(path)
    made = not path.exists()
    if made:
        tmp = _partial(path)
        tmp.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "aifactory_hub.ops.catalogue",
                "--train", str(tmp), "--csv", str(dataset)]  # fmt: skip
        result = slurm.run(argv, timeout=TRAIN_TIMEOUT_S, env={"OMP_NUM_THREADS": "1"})
        os.chmod(tmp, ROOT_ONLY)
        os.replace(tmp, path)
        log.info("catalogue item %s: trained on %s: %s", item.name, dataset, result.stdout.strip())
    protect(item, path)
    return made


def make_demo_catalogue(site: Site) -> list[str]:
    """Make the demo items this site lists (a site without them gets nothing); the names of
    the items made now."""
    made = []
    dataset = site.catalogue_item(DATASET)
    if dataset is None:
        return made
    if make_dataset(dataset):
        made.append(dataset.name)
    model = site.catalogue_item(MODEL)
    if model is not None and make_model(model, Path(dataset.path)):
        made.append(model.name)
    return made


def ensure_demo_catalogue(site: Site) -> list[str]:
    """`make_demo_catalogue` for `up`, which goes on without the demo items if they cannot
    be made (the hub works without them): the failure is logged with its cause, and the
    names made are returned (none on failure)."""
    try:
        return make_demo_catalogue(site)
    except Exception:
        log.exception(
            "the demo catalogue (%s, %s) could not be made; the hub works without it, and "
            "the next `up` tries again",
            DATASET, MODEL,
        )  # fmt: skip
        return []


# --- the child process: training (imports numpy and torch) --------------------------------------


def log_price_windows(csv_path: Path, window: int = WINDOW) -> list[list[float]]:
    """Every run of `window` + 1 consecutive monthly log prices of each column of the table
    (a stock's months before its listing are empty and skipped; lines starting with '#' are
    comments)."""
    import csv

    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    columns = [c for c in (rows[0] if rows else {}) if c != "Date"]
    windows = []
    for column in columns:
        series = [math.log(float(r[column])) for r in rows if r[column]]
        windows += [series[i : i + window + 1] for i in range(len(series) - window)]
    return windows


def train(csv_path: Path, out: Path, steps: int = STEPS, seed: int = SEED) -> tuple[float, float]:
    """Fit nn.Linear(WINDOW, 1) to predict next month's log price from the last WINDOW
    months, full batch, seeded; save its state_dict to `out`. It starts from "next month is
    this month" (the inputs are nearly collinear, so from a random start a few hundred steps
    would not even reach that) and learns the drift and corrections. Returns the mean squared
    error of that starting guess and of the trained model."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    data = torch.tensor(log_price_windows(csv_path), dtype=torch.float32)
    inputs, target = data[:, :WINDOW], data[:, WINDOW:]
    model = torch.nn.Linear(WINDOW, 1)
    with torch.no_grad():
        model.weight.zero_()
        model.weight[0, -1] = 1.0
        model.bias.zero_()
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    with torch.no_grad():
        start = torch.nn.functional.mse_loss(model(inputs), target).item()
    for _ in range(steps):
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(model(inputs), target)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        end = torch.nn.functional.mse_loss(model(inputs), target).item()
    torch.save(model.state_dict(), out)
    return start, end


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the demo catalogue's stocks-trend model.")
    parser.add_argument("--train", type=Path, required=True, help="where to save the model")
    parser.add_argument("--csv", type=Path, required=True, help="the stocks-monthly table")
    parser.add_argument("--steps", type=int, default=STEPS)
    args = parser.parse_args(argv)
    start, end = train(args.csv, args.train, steps=args.steps)
    print(f"{args.steps} steps: mean squared error of the log price {end:.5f} "
          f"(next month = this month: {start:.5f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
