"""The data side of the site file: where project and scratch folders live, how long data is
kept, how much each project may store, and the catalogue of shared datasets and models.

`[storage]` has a default for every field, so a site file without it gets project folders
under /srv/aifactory. `[[catalogue]]` lists read-only datasets and models already on the
cluster's filesystem; the factory never copies or downloads them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aifactory_hub.site.names import SlurmName

# The keys of `allowance_gb`: access modes' codes (the Site checks they are its modes), and
# "site" for the site file's own projects.
SITE_PROJECTS = "site"
EVERY_PROJECT = "*"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageSettings(_Strict):
    """`[storage]`: each project's folders, their retention and allowance."""

    project_root: str = Field(
        "/srv/aifactory/projects",
        pattern=r"^/[^\x00]*[^/]$",
        description="absolute folder holding one folder per project (group-owned, setgid, "
        "mode 2770); sessions get it as $PROJECT_DIR",
    )
    scratch_root: str = Field(
        "/srv/aifactory/scratch",
        pattern=r"^/[^\x00]*[^/]$",
        description="absolute folder holding one scratch folder per project (as the project "
        "folder); sessions get it as $SCRATCH_DIR; files unchanged for `scratch_purge_days` "
        "are removed",
    )
    scratch_purge_days: int = Field(
        30, ge=1, le=3650, description="days after its last change a scratch file is removed"
    )
    retention_days: int = Field(
        90,
        ge=0,
        le=3650,
        description="days an ended project's folders are kept (no member can enter them) "
        "before staff may remove them",
    )
    allowance_gb: dict[str, float] = Field(
        {"site": 50, "playground": 5, "fast_lane": 200, "large_scale": 2000, "ai_science": 500},
        description="GB a project may keep in its project and scratch folders together, by "
        "access mode (`site`: the site file's projects); the quota view warns at 80 % and 95 %",
    )
    scan_interval_s: float = Field(
        900,
        ge=10,
        le=86400,
        description="seconds between two measurements of every project's folders",
    )
    scan_max_entries: int = Field(
        200_000,
        ge=100,
        le=100_000_000,
        description="a scan of one folder stops after this many entries and says its figure "
        "is a lower bound (a bounded scan, where the filesystem has no quota tool)",
    )
    group_gid_min: int = Field(
        70000,
        ge=1000,
        le=2**31 - 2,
        description="project groups get GIDs from this range; a group outside it is never "
        "treated as a project's (so a project named like a system group gets no power)",
    )
    group_gid_max: int = Field(79999, ge=1000, le=2**31 - 2, description="end of that range")

    @model_validator(mode="after")
    def _sane(self) -> StorageSettings:
        for key, gb in self.allowance_gb.items():
            if not 0 <= gb <= 10**7:
                raise ValueError(f"allowance_gb.{key}: {gb} is not a number of GB >= 0")
        if self.group_gid_min >= self.group_gid_max:
            raise ValueError("group_gid_min must be below group_gid_max")
        roots = (self.project_root.rstrip("/") + "/", self.scratch_root.rstrip("/") + "/")
        if roots[0].startswith(roots[1]) or roots[1].startswith(roots[0]):
            raise ValueError("project_root and scratch_root must not contain one another")
        return self

    def allowance(self, access_mode: str | None) -> float:
        """GB a project of `access_mode` (None: a site-file project) may keep; 0: no limit set."""
        return self.allowance_gb.get(access_mode or SITE_PROJECTS, 0.0)


class CatalogueItem(_Strict):
    """One shared, read-only dataset or model on the cluster's filesystem."""

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="short name, unique in the catalogue"
    )
    kind: Literal["dataset", "model"] = Field(description="a dataset or a trained model")
    path: str = Field(
        pattern=r"^/[^\x00]*$", description="absolute path of the file or folder on the cluster"
    )
    format: Literal["csv", "npz", "torch", "huggingface", "files"] = Field(
        "files", description="how to load it: the catalogue's ready snippet follows it"
    )
    size_mb: float = Field(ge=0, description="its size, as the catalogue shows it")
    licence: str = Field(
        min_length=1, max_length=100, description="its licence (an SPDX id where there is one)"
    )
    licence_url: str = Field("", max_length=300, description="where the licence text is")
    commercial_use: bool = Field(
        True,
        description="false: the licence forbids commercial use; the ethics gate flags an "
        "industry proposal that names it",
    )
    description: str = Field("", max_length=500, description="one paragraph")
    projects: list[SlurmName | Literal["*"]] = Field(
        [EVERY_PROJECT],
        min_length=1,
        description="accounts whose members may use it; `*`: every project",
    )

    def open_to(self, accounts: set[str] | list[str]) -> bool:
        """Whether a member of any of `accounts` may use this item."""
        return EVERY_PROJECT in self.projects or bool(set(self.projects) & set(accounts))
