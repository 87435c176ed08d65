"""The software side of the site file: the environments a session may run its kernels in, the
module system that provides them, and the bounds on environments users build themselves.

`[[environments]]` lists the site's stacks. Each is a Python prefix (a venv or a conda
environment) with the environment modules to load first and variables to set; the spawn form
offers those allowed on the chosen partition. JupyterLab itself always runs from the factory's
own environment, so its extensions match; only the kernels change.

`[software]` says where Lmod is, where the factory writes each environment's kernel
specification, which extra folders hold kernels (a project's shared ones), and how long and how
large a user's own build job may be.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aifactory_hub.site.names import SlurmName

ENVIRONMENT_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
# Lmod module names: `name` or `name/version`, as `module avail` prints them.
MODULE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}(/[A-Za-z0-9][A-Za-z0-9._+-]{0,63})?$"
VARIABLE_PATTERN = r"^[A-Z_][A-Z0-9_]{0,63}$"
ABSOLUTE = r"^/[^\x00\n]*[^/\x00\n]$"
# Kernel folders may name the session's project folder; nothing else is substituted.
PROJECT_TOKEN = "{project}"  # noqa: S105 (a placeholder, not a secret)
# Variables the session's own machinery sets: an environment may not replace them.
RESERVED_VARIABLES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "JUPYTER_PATH", "MODULEPATH", "LD_PRELOAD"}
)
RESERVED_PREFIXES = ("JUPYTERHUB_", "SLURM_", "AIFACTORY_")

EnvironmentName = Annotated[str, Field(pattern=ENVIRONMENT_PATTERN)]
ModuleName = Annotated[str, Field(pattern=MODULE_PATTERN)]
AbsolutePath = Annotated[str, Field(pattern=ABSOLUTE)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Environment(_Strict):
    """One `[[environments]]` entry: a stack a session's kernels can run in."""

    name: EnvironmentName = Field(
        description="short name: the spawn form's value and URLs' ?environment="
    )
    description: str = Field(
        "", max_length=200, description="one line the spawn form and the guides show"
    )
    prefix: AbsolutePath = Field(
        description="the environment's prefix (a venv or a conda environment): its "
        "`bin/python` runs the kernels and must have ipykernel"
    )
    modules: list[ModuleName] = Field(
        [],
        max_length=16,
        description="environment modules loaded (in order) before the session starts",
    )
    variables: dict[str, str] = Field(
        {}, description="variables set in the session after the modules are loaded"
    )
    partitions: list[SlurmName] = Field(
        [], description="partitions it is offered on; empty: every partition"
    )
    default: bool = Field(False, description="the environment a session gets when none is chosen")
    packages: list[str] = Field(
        [],
        max_length=32,
        description="local factory only: what `aifactory up` installs into `prefix` (pinned "
        "requirements); it also writes a modulefile for the last of `modules`. A real site "
        "leaves this empty and manages its stacks itself",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value == "tools":  # kernels_root/tools holds the AI Factory tools kernel
            raise ValueError("'tools' is the factory's own kernel folder: choose another name")
        return value

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not re.fullmatch(VARIABLE_PATTERN, name):
                raise ValueError(f"{name!r} is not a variable name (A-Z, 0-9, _)")
            if name in RESERVED_VARIABLES or name.startswith(RESERVED_PREFIXES):
                raise ValueError(f"{name} is set by the factory itself")
            if len(text) > 1000 or "\x00" in text or "\n" in text:
                raise ValueError(f"{name}: at most 1000 characters on one line")
        return value

    @field_validator("packages")
    @classmethod
    def _packages(cls, value: list[str]) -> list[str]:
        for req in value:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._\[\],<>=!~ -]{0,99}", req):
                raise ValueError(f"{req!r} is not a plain requirement (name, extras, version)")
        return value

    def offered_on(self, partition: str) -> bool:
        return not self.partitions or partition in self.partitions


class SoftwareSettings(_Strict):
    """`[software]`: the module system, kernel folders, and bounds on users' own builds."""

    lmod_init: str = Field(
        "/usr/share/lmod/lmod/init/bash",
        pattern=r"^(/[^\x00\n]*)?$",
        description="Lmod's bash initialisation, sourced by a session that loads modules "
        "(Debian's `lmod` package puts it here); empty: the site has no module system",
    )
    module_paths: list[AbsolutePath] = Field(
        ["/opt/aifactory/modules"],
        description="MODULEPATH of sessions (the local factory writes its modulefiles in the "
        "first)",
    )
    kernels_root: AbsolutePath = Field(
        "/opt/aifactory/kernels",
        description="where the factory writes each environment's kernel specification "
        "(<root>/<environment>/kernels/...); must be readable on the compute nodes",
    )
    kernel_paths: list[str] = Field(
        [],
        description="extra folders searched for kernels (they join JUPYTER_PATH, each holding "
        "a kernels/ folder); `{project}` stands for the session's project folder, so a "
        "project's members can share environments",
    )
    build_minutes: int = Field(
        30, ge=5, le=1440, description="wall time of a user's environment build job"
    )
    build_max_gb: float = Field(
        5, gt=0, le=1000, description="size at which a user's environment build is stopped"
    )
    build_partition: str = Field(
        "",
        pattern=r"^([a-z][a-z0-9_-]{0,31})?$",
        description="partition build jobs run on; empty: the default partition",
    )

    @field_validator("kernel_paths")
    @classmethod
    def _kernel_paths(cls, value: list[str]) -> list[str]:
        for path in value:
            rest = path.replace(PROJECT_TOKEN, "/x")
            if not re.fullmatch(ABSOLUTE, rest) or "{" in rest or "}" in rest:
                raise ValueError(
                    f"{path!r}: an absolute folder, where only {PROJECT_TOKEN} is substituted"
                )
        return value

    def kernel_folders(self, project_dir: str) -> list[str]:
        """The site's extra kernel folders for a session of the project at `project_dir`."""
        return [p.replace(PROJECT_TOKEN, project_dir) for p in self.kernel_paths]
