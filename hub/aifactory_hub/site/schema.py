"""The site file: one validated description of the centre.

A TOML file says which partitions exist and their per-session limits, the default session,
how users log in, and (for the local factory) the demo projects and users. Everything else
reads this model; a bad field fails at start with its dotted name and the reason.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aifactory_hub.policy.settings import AccessSettings
from aifactory_hub.site.names import SlurmName, Username
from aifactory_hub.site.software import Environment, SoftwareSettings
from aifactory_hub.site.storage import CatalogueItem, StorageSettings

SITE_ENV = "AIFACTORY_SITE"
MAX_LOCAL_NODES = 8  # per partition: the local cluster runs a slurmd for each
FACTORY_GROUP = "aifactory"  # the POSIX group of every account the factory makes
DEMO_SITE = Path(__file__).parents[1] / "sites" / "local.toml"

# Slurm account and partition names; POSIX user names (dots and dashes allowed, no '@').
URL_PATTERN = r"^https?://[^\s/]+(:\d+)?/?$"
ABSOLUTE_PATTERN = r"^(/[^\x00]*)?$"  # an absolute path, or empty
Role = Literal["researcher", "support", "trainer", "reviewer", "admin"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteInfo(_Strict):
    name: str = Field(
        min_length=1,
        max_length=120,
        description="the centre's name, as the console and the service's site API show it",
    )
    cluster: SlurmName = Field(
        description="Slurm ClusterName: projects' accounts are made on it (sacctmgr); the local "
        "cluster's slurm.conf is written with it"
    )
    local_cluster: bool = Field(
        False,
        description="true: the project's own scripts run Slurm on this machine "
        "(`hub/bin/aifactory up` starts the daemons and makes the demo users and accounts); "
        "false: a real site's Slurm, which the factory only uses",
    )


class HubSettings(_Strict):
    bind_url: str = Field(
        "http://127.0.0.1:8000",
        pattern=URL_PATTERN,
        description="public URL users open (JupyterHub.bind_url)",
    )
    hub_bind_url: str = Field(
        "http://127.0.0.1:8081",
        pattern=URL_PATTERN,
        description="hub API, reached by sessions (JupyterHub.hub_bind_url): on a real site "
        "an address the compute nodes can reach",
    )
    proxy_api_url: str = Field(
        "http://127.0.0.1:8001",
        pattern=URL_PATTERN,
        description="configurable-http-proxy's REST API, used by the hub only",
    )
    state_dir: str = Field(
        "/var/lib/aifactory/hub",
        pattern=r"^/",
        description="absolute folder of the hub's database, cookie secret, pid files and log; "
        "made mode 0700 at start",
    )
    session_ip: str = Field(
        "",
        description="address the session's server listens on inside the job; empty: the "
        "address its node's name resolves to (each session on its own node's address)",
    )
    connect_ip: str = Field(
        "", description="address the hub uses to reach a session; empty: the job's node name"
    )
    start_timeout_s: int = Field(
        300,
        ge=10,
        le=86400,
        description="seconds from sbatch to the session's server answering, queue wait "
        "included, before the hub gives up and cancels the job (Spawner.start_timeout)",
    )
    poll_interval_s: float = Field(
        10.0,
        ge=0.5,
        le=600,
        description="seconds between the hub's checks of running sessions: each interval it "
        "knocks on every session's port and, if one is silent, asks one squeue for all; an "
        "ended job is noticed within one interval",
    )
    slurm_confirm_s: float = Field(
        60.0,
        ge=0.5,
        le=3600,
        description="seconds: while every running session's server accepts connections, ask "
        "Slurm about them this often (a silent server makes the next poll interval ask at once)",
    )
    cull_idle_s: int = Field(
        3600,
        ge=0,
        le=30 * 86400,
        description="seconds: jupyterhub-idle-culler stops a session (and so its Slurm job) "
        "idle this long; 0: never",
    )
    admin_users: list[Username] = Field(
        [], description="hub admins (JupyterHub admin_users), besides users with the admin role"
    )


class OAuthSettings(_Strict):
    """Generic OAuth2/OIDC login (oauthenticator's GenericOAuthenticator)."""

    client_id: str = Field(min_length=1, description="the hub's client id at the provider")
    client_secret_env: str = Field(
        "AIFACTORY_OAUTH_SECRET",
        description="environment variable of the hub holding the client secret (the secret "
        "itself is never in the site file)",
    )
    authorize_url: str = Field(
        pattern=r"^https://", description="the provider's authorisation endpoint"
    )
    token_url: str = Field(pattern=r"^https://", description="the provider's token endpoint")
    userdata_url: str = Field(pattern=r"^https://", description="the provider's userinfo endpoint")
    callback_url: str = Field(
        pattern=r"^https?://",
        description="this hub's `<bind_url>/hub/oauth_callback`, as registered at the provider",
    )
    username_claim: str = Field(
        "preferred_username",
        description="userinfo claim holding the user's login, which must be their POSIX "
        "account on the cluster",
    )
    scope: list[str] = Field(
        ["openid", "profile", "email"], description="OAuth scopes the hub asks the provider for"
    )


class AuthSettings(_Strict):
    kind: Literal["pam", "oauth"] = Field(
        "pam",
        description="`pam`: the hub host's own accounts; `oauth`: an identity provider "
        "(needs [auth.oauth] and `pip install aifactory-hub[oauth]`)",
    )
    oauth: OAuthSettings | None = Field(
        None, description='generic OAuth2/OIDC log-in; required when kind = "oauth"'
    )

    @model_validator(mode="after")
    def _oauth_needs_settings(self) -> AuthSettings:
        if self.kind == "oauth" and self.oauth is None:
            raise ValueError("kind = 'oauth' needs an [auth.oauth] table")
        return self


class ServiceSettings(_Strict):
    """The hub-managed services: the factory API and the staff console (Voila)."""

    factory_url: str = Field(
        "http://127.0.0.1:8090",
        pattern=URL_PATTERN,
        description="where the factory service listens",
    )
    console_url: str = Field(
        "http://127.0.0.1:8091",
        pattern=URL_PATTERN,
        description="where the console (Voila) listens",
    )
    console_user: Username = Field(
        "aifactory-console",
        description="unprivileged system user that runs the console and its dashboard kernels",
    )
    cluster_refresh_s: float = Field(
        10.0,
        ge=2,
        le=3600,
        description="seconds between the factory service's cluster snapshots (one squeue and "
        "one scontrol per interval, however many dashboards are open)",
    )
    store_url: str = Field(
        "sqlite:////var/lib/aifactory/factory/factory.sqlite",
        pattern=r"^(sqlite:////\S+|postgresql(\+psycopg)?://\S+)$",
        description="the factory store: a SQLite file (default) or a PostgreSQL URL",
    )
    kernel_cull_idle_s: int = Field(
        300, ge=10, le=86400, description="seconds before an unviewed dashboard kernel is culled"
    )
    collector_interval_s: float = Field(
        60.0,
        ge=5,
        le=3600,
        description="seconds between accounting collector runs (one incremental sacct each; "
        "running jobs' figures are this old at most)",
    )


class Partition(_Strict):
    name: SlurmName = Field(description="the Slurm partition")
    description: str = Field("", description="one line the spawn form shows after the name")
    default: bool = Field(
        False, description="the spawn form's first choice (at most one; none: the first listed)"
    )
    nodes: int = Field(
        1,
        ge=1,
        description="nodes in the partition; a workshop must fit in nodes x cpus_per_node. The "
        "local cluster makes this many nodes of its own for the partition (at most 8), named "
        "after it (cpu1, cpu2, ...)",
    )
    cpus_per_node: int = Field(ge=1, description="CPUs of one node")
    memory_gb_per_node: int = Field(ge=1, description="memory of one node, GB")
    gpu_type: str = Field(
        "",
        pattern=r"^[a-z0-9_]{0,32}$",
        description="Slurm GRES type of the nodes' GPUs (`--gres=gpu:TYPE:N`); needed when "
        "gpus_per_node > 0; a [[gpu_types]] entry of that name gives the advisor its figures",
    )
    gpus_per_node: int = Field(0, ge=0, le=64, description="GPUs of one node")
    max_walltime_hours: float = Field(
        gt=0,
        le=24 * 30,
        description="hours a session may run at most; the hub refuses more, the local "
        "cluster's slurm.conf sets it as the partition's MaxTime",
    )
    max_cpus: int = Field(
        ge=1, description="CPUs per session at most (at most cpus_per_node); the hub refuses more"
    )
    max_memory_gb: int = Field(
        ge=1,
        description="GB per session at most (at most memory_gb_per_node); the hub refuses more",
    )
    max_gpus: int = Field(
        0,
        ge=0,
        description="GPUs per session at most (at most gpus_per_node); the hub refuses more",
    )
    min_gpus: int = Field(
        0,
        ge=0,
        description="GPUs per session at least (e.g. 1 on a GPU partition); the hub refuses fewer",
    )

    @model_validator(mode="after")
    def _limits_fit_a_node(self) -> Partition:
        if self.max_cpus > self.cpus_per_node:
            raise ValueError(f"max_cpus {self.max_cpus} > cpus_per_node {self.cpus_per_node}")
        if self.max_memory_gb > self.memory_gb_per_node:
            raise ValueError("max_memory_gb is larger than memory_gb_per_node")
        if self.max_gpus > self.gpus_per_node:
            raise ValueError(f"max_gpus {self.max_gpus} > gpus_per_node {self.gpus_per_node}")
        if self.min_gpus > self.max_gpus:
            raise ValueError("min_gpus is larger than max_gpus")
        if self.gpus_per_node and not self.gpu_type:
            raise ValueError("gpus_per_node > 0 needs a gpu_type")
        return self

    @property
    def has_gpus(self) -> bool:
        return self.gpus_per_node > 0


class SessionDefaults(_Strict):
    cpus: int = Field(
        1, ge=1, description="CPUs the spawn form offers first (at most the partition's max)"
    )
    memory_gb: int = Field(
        2, ge=1, description="GB the spawn form offers first (at most the partition's max)"
    )
    walltime_hours: float = Field(
        1.0, gt=0, description="hours the spawn form offers first; at most every partition's max"
    )


class JobSettings(_Strict):
    """Distributed jobs that researchers launch from their notebooks (Dask, training, sweeps)."""

    interface: str = Field(
        "",
        pattern=r"^[A-Za-z0-9_.:-]{0,32}$",
        description="network interface of the jobs' own traffic (Dask scheduler and workers, "
        "the training rendezvous), e.g. ib0; empty: each library's own choice",
    )
    worker_death_timeout_s: int = Field(
        60,
        ge=5,
        le=3600,
        description="seconds after which a Dask worker that cannot reach its scheduler exits",
    )


class Project(_Strict):
    account: SlurmName = Field(description="Slurm account the project's jobs are charged to")
    title: str = Field(
        min_length=1,
        max_length=200,
        description="the project's name (the Slurm account's Description)",
    )
    organisation: str = Field(
        "", description="who runs it (the Slurm account's Organization, the billing report's)"
    )
    pi: Username = Field(description="principal investigator; one of members")
    members: list[Username] = Field(
        min_length=1, description="users who may charge jobs to the account"
    )
    partitions: list[SlurmName] = Field(
        min_length=1,
        description="partitions the project may use; the local cluster gives each member one "
        "Slurm association per partition, so slurmctld itself refuses the others",
    )

    @model_validator(mode="after")
    def _pi_is_member(self) -> Project:
        if self.pi not in self.members:
            raise ValueError(f"pi {self.pi!r} is not in members")
        return self


class DemoUser(_Strict):
    name: Username = Field(
        description="POSIX login; the local cluster creates it with a random password"
    )
    roles: list[Role] = Field(
        ["researcher"],
        description="hub roles (RBAC scopes): researcher, support, trainer, reviewer, admin",
    )
    organisation: str = Field("", max_length=200, description="for conflict-of-interest checks")


class GpuType(_Strict):
    """What one GPU model can do: the advisor sizes training runs with it, the guides quote it.

    `note` says where the figures come from (e.g. that the demo's GPUs are simulated)."""

    name: str = Field(pattern=r"^[a-z0-9_]{1,32}$", description="as in partitions' gpu_type")
    label: str = Field("", max_length=120, description="e.g. NVIDIA A100 80GB SXM")
    memory_gb: float = Field(gt=0, le=4096, description="GB of memory per GPU")
    peak_tflops_bf16: float = Field(gt=0, le=1e5, description="TFLOPS, dense BF16 peak, per GPU")
    note: str = Field(
        "", max_length=300, description="where the figures come from, shown with each estimate"
    )


class PathSettings(_Strict):
    """Where the factory's shipped data is read from (`aifactory_hub.site.paths`); empty: the
    development checkout, else the installed package's `<prefix>/share/aifactory-hub`."""

    dashboards: str = Field(
        "",
        pattern=ABSOLUTE_PATTERN,
        description="absolute folder of the staff console's dashboards (one notebook each, "
        "read by the console); empty: the shipped ones",
    )
    notebooks: str = Field(
        "",
        pattern=ABSOLUTE_PATTERN,
        description="absolute folder of starter notebooks and workshop materials (one folder "
        "each, checked by the factory service, copied by each workshop session); empty: the "
        "shipped ones",
    )


class Site(_Strict):
    site: SiteInfo = Field(description="the centre and its Slurm cluster")
    hub: HubSettings = Field(
        HubSettings(), description="the JupyterHub process: its URLs, state and session checks"
    )
    services: ServiceSettings = Field(
        ServiceSettings(),
        description="the hub-managed services: the factory's REST service and the staff console",
    )
    access: AccessSettings = Field(
        AccessSettings(),
        description="the access policy: its access modes (site data), the instant trial, "
        "rates of charged access",
    )
    auth: AuthSettings = Field(AuthSettings(), description="how users log in")
    defaults: SessionDefaults = Field(
        SessionDefaults(), description="the session the spawn form offers first"
    )
    jobs: JobSettings = Field(
        JobSettings(), description="distributed jobs researchers launch from notebooks"
    )
    partitions: list[Partition] = Field(
        min_length=1, description="Slurm partitions sessions may run on, with per-session limits"
    )
    projects: list[Project] = Field(
        [],
        description="projects the site file defines (the demo's); granted proposals add "
        "projects in the store",
    )
    users: list[DemoUser] = Field(
        [],
        description="users' roles and organisations; the local cluster also creates them as "
        "demo logins",
    )
    gpu_types: list[GpuType] = Field(
        [],
        description="what each GPU model can do, for the advisor and the guides; a type "
        "without an entry gets no estimate",
    )
    paths: PathSettings = Field(
        PathSettings(), description="where the shipped dashboards and notebooks are read from"
    )
    storage: StorageSettings = Field(
        StorageSettings(),
        description="project and scratch folders, their retention and storage allowance",
    )
    catalogue: list[CatalogueItem] = Field(
        [], description="shared read-only datasets and models researchers may use"
    )
    software: SoftwareSettings = Field(
        SoftwareSettings(),
        description="the module system, kernel folders and bounds on users' own builds",
    )
    environments: list[Environment] = Field(
        [],
        description="software stacks a session's kernels can run in; none: the factory's own",
    )

    @model_validator(mode="after")
    def _cross_references(self) -> Site:
        names = [p.name for p in self.partitions]
        _unique("partitions", names)
        _unique("projects", [p.account for p in self.projects])
        _unique("users", [u.name for u in self.users])
        _unique("gpu_types", [g.name for g in self.gpu_types])
        _unique("catalogue", [c.name for c in self.catalogue])
        _unique("environments", [e.name for e in self.environments])
        if sum(e.default for e in self.environments) > 1:
            raise ValueError("environments: more than one has default = true")
        for env in self.environments:
            for part in env.partitions:
                if part not in names:
                    raise ValueError(f"environment {env.name}: unknown partition {part!r}")
        build = self.software.build_partition
        if build and build not in names:
            raise ValueError(f"software.build_partition: unknown partition {build!r}")
        written = (
            self.storage.allowance_gb if "allowance_gb" in self.storage.model_fields_set else {}
        )
        for key in written:  # the default names the published modes; a site's own may differ
            if key != "site" and key not in self.access.modes:
                modes = ", ".join(["site", *self.access.modes])
                raise ValueError(f"storage.allowance_gb: {key!r} is not one of {modes}")
        accounts = {p.account for p in self.projects}
        for item in self.catalogue:
            for account in item.projects:
                if account != "*" and self.projects and account not in accounts:
                    raise ValueError(f"catalogue {item.name}: unknown project {account!r}")
        if sum(p.default for p in self.partitions) > 1:
            raise ValueError("partitions: more than one has default = true")
        users = {u.name for u in self.users}
        for project in self.projects:
            for part in project.partitions:
                if part not in names:
                    raise ValueError(f"project {project.account}: unknown partition {part!r}")
            for member in project.members:
                if self.users and member not in users:
                    raise ValueError(f"project {project.account}: member {member!r} not in users")
        for part in self.partitions:
            if self.defaults.walltime_hours > part.max_walltime_hours:
                raise ValueError(f"defaults.walltime_hours exceeds partition {part.name}'s max")
            if self.site.local_cluster and part.nodes > MAX_LOCAL_NODES:
                raise ValueError(
                    f"partition {part.name}: the local cluster makes at most "
                    f"{MAX_LOCAL_NODES} nodes per partition"
                )
            if self.site.local_cluster and len(part.name) + len(str(part.nodes)) > 32:
                raise ValueError(f"partition {part.name}: too long a name for its nodes' names")
        return self

    def partition(self, name: str) -> Partition:
        for part in self.partitions:
            if part.name == name:
                return part
        raise KeyError(name)

    @property
    def default_partition(self) -> Partition:
        return next((p for p in self.partitions if p.default), self.partitions[0])

    def gpu_type(self, name: str) -> GpuType | None:
        """The specs of GPU model `name`, or None when the site file does not give them."""
        return next((g for g in self.gpu_types if g.name == name), None)

    def environment(self, name: str) -> Environment | None:
        return next((e for e in self.environments if e.name == name), None)

    def environments_on(self, partition: str) -> list[Environment]:
        """The environments offered on `partition`, the default first."""
        offered = [e for e in self.environments if e.offered_on(partition)]
        return sorted(offered, key=lambda e: not e.default)

    def catalogue_item(self, name: str) -> CatalogueItem | None:
        return next((c for c in self.catalogue if c.name == name), None)

    def projects_of(self, username: str) -> list[Project]:
        return [p for p in self.projects if username in p.members]

    def users_with_role(self, role: str) -> list[str]:
        return [u.name for u in self.users if role in u.roles]

    def organisation_of(self, username: str) -> str:
        return next((u.organisation for u in self.users if u.name == username), "")


def _unique(what: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what}: {name!r} appears twice")
        seen.add(name)


class SiteError(ValueError):
    """The site file cannot be used; the message names the file, the field and the reason."""


def parse_site(text: str, source: str = "<site>") -> Site:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SiteError(f"{source}: not valid TOML: {exc}") from None
    try:
        return Site.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(part) for part in err["loc"]) or "(top level)"
            lines.append(f"  {field}: {err['msg']}")
        raise SiteError(f"{source}: invalid site file\n" + "\n".join(lines)) from None


def load_site(path: str | os.PathLike | None = None) -> Site:
    """Load the site file from `path`, $AIFACTORY_SITE, or the bundled local demo site."""
    chosen = Path(path or os.environ.get(SITE_ENV) or DEMO_SITE)
    try:
        text = chosen.read_text(encoding="utf-8")
    except OSError as exc:
        raise SiteError(f"{chosen}: cannot read site file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SiteError(f"{chosen}: not UTF-8 text (byte {exc.start})") from None
    return parse_site(text, str(chosen))
