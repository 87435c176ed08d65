"""The factory service's framework: the route record, the handler every operation runs in, and
the `Context` (the site, the store and what the service reaches outside itself).

One `Route` is one operation, a method on a path: what runs, which scopes it needs, its body,
its statuses and query parameters. `rules()` builds tornado's routing from the records and
`service.openapi.document()` builds the OpenAPI description from the same records, so the
two cannot disagree. This module imports no feature: the features (`service.routes.*`)
import it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from tornado import web

from aifactory_hub.core.bodies import MAX_ID, Body, parse
from aifactory_hub.core.errors import AccessError
from aifactory_hub.site import Site, StorageSettings, names

T = TypeVar("T")
METHODS = ("get", "post", "put", "delete")

# A path names its parameters ({id}, {account}, {name}); each kind has the regex tornado
# matches and the schema the OpenAPI description gives.
PATH_PARAMS: dict[str, tuple[str, dict[str, Any]]] = {
    "id": (r"(\d+)", {"type": "string", "pattern": "^[0-9]+$"}),
    "account": (
        "(" + names.SLURM_NAME_PATTERN[1:-1] + ")",
        {"type": "string", "pattern": names.SLURM_NAME_PATTERN},
    ),
    "name": (r"([^/]+)", {"type": "string", "minLength": 1}),
}
_PARAM = re.compile(r"\{([a-z]+)\}")

Operation = Callable[..., Awaitable[None]]
"""What a route runs: `async def op(h: Handler, *path_args: str) -> None`, answering through
`h.write_json` (or `h.finish`) and refusing by raising `AccessError`."""


@dataclass(frozen=True)
class Route:
    """One operation of the service: `method` on `path` (relative to `<prefix>/api/`).

    `scopes` are all required before `run` is called (none: a public operation);
    `body` is the request body's model; `success` the statuses it answers when it works;
    `query` its query parameters' JSON schemas; `upstream` says it may answer 502 (Slurm,
    the accounts or the hub refused a step); `content` is its success content type.
    """

    method: str
    path: str
    run: Operation
    summary: str
    scopes: tuple[str, ...]
    body: type[Body] | None = None
    success: tuple[int, ...] = (200,)
    query: Mapping[str, dict[str, Any]] = field(default_factory=dict, hash=False)
    upstream: bool = False
    content: str = "application/json"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"{self.path}: {self.method!r} is not one of {METHODS}")
        unknown = set(self.params) - set(PATH_PARAMS)
        if unknown:
            raise ValueError(f"{self.path}: unknown path parameters {sorted(unknown)}")

    @property
    def params(self) -> list[str]:
        """The path parameters' names, in the order tornado passes their values."""
        return _PARAM.findall(self.path)

    @property
    def pattern(self) -> str:
        """The tornado regex of the path (relative to the API's root)."""
        parts = _PARAM.split(self.path)  # literal, name, literal, name, ..., literal
        return "".join(
            PATH_PARAMS[part][0] if i % 2 else re.escape(part) for i, part in enumerate(parts)
        )


# --- what the service is given --------------------------------------------------------------


class Auth(Protocol):
    """JupyterHub's `HubAuth` as the service uses it (the in-process tests give a double)."""

    def user_for_token(self, token: str, *, sync: bool = True) -> Any: ...

    def check_scopes(self, required_scopes: set[str], user: dict[str, Any]) -> set[str]: ...


class Hub(Protocol):
    """The hub's REST API, called with the service's own token (`service.hub_api.HubAPI`)."""

    async def request(self, method: str, path: str, body: Any = None) -> Any: ...

    async def get(self, path: str) -> Any: ...


class Snapshots(Protocol):
    """The cluster monitor (`service.cluster.ClusterMonitor`)."""

    async def snapshot(self) -> Any: ...


class Collecting(Protocol):
    """The accounting collector (`usage.collector.Collector`)."""

    async def run_once(self) -> dict[str, Any]: ...

    def start(self) -> asyncio.Task: ...


@dataclass(frozen=True)
class SlurmSteps:
    """The blocking steps that change Slurm or the cluster's accounts (run in worker threads):
    provisioning a project, making, extending and ending a workshop, and removing an ended
    project's folders. The real ones come from `access.projects`, `workshops.lifecycle` and
    `data.folders` (`service.app.real_context`)."""

    provision: Callable[[sessionmaker[Session], str, str], tuple[bool, str]]
    create_workshop: Callable[..., tuple[int, dict[str, str]]]
    extend_workshop: Callable[..., None]
    end_workshop: Callable[..., list[str]]
    remove_data: Callable[[StorageSettings, str], object]  # an ended project's folders


@dataclass(frozen=True)
class Context:
    """Everything an operation may use beyond its request. One per application."""

    site: Site
    store: sessionmaker[Session]
    auth: Auth
    hub: Hub
    monitor: Snapshots
    collector: Collecting
    slurm: SlurmSteps


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` in a worker thread: Slurm steps and big store reads must not stall the
    service's other requests."""
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


# --- the handler ----------------------------------------------------------------------------


class Handler(web.RequestHandler):
    """Serves the routes of one path: authenticates the hub token, checks the route's scopes,
    runs it, and answers every refusal as the JSON error `{status, message, field}`."""

    routes: Mapping[str, Route]
    token_owner: dict[str, Any]

    def initialize(self, routes: Mapping[str, Route]) -> None:
        self.routes = routes

    @property
    def context(self) -> Context:
        return self.settings["context"]

    @property
    def site(self) -> Site:
        return self.context.site

    @property
    def store(self) -> sessionmaker[Session]:
        return self.context.store

    @property
    def user(self) -> str:
        """The name of the token's owner (a user, or a service such as the hub's)."""
        return str(self.token_owner["name"])

    def holds(self, scope: str) -> bool:
        """Whether the token holds `scope` (beyond those its route required)."""
        return bool(self.context.auth.check_scopes({scope}, self.token_owner))

    def check_xsrf_cookie(self) -> None:
        # Token-authenticated API: no cookies are accepted, so there is nothing to forge.
        return

    async def get(self, *args: str) -> None:
        await self._serve("get", args)

    async def post(self, *args: str) -> None:
        await self._serve("post", args)

    async def put(self, *args: str) -> None:
        await self._serve("put", args)

    async def delete(self, *args: str) -> None:
        await self._serve("delete", args)

    async def _serve(self, method: str, args: Sequence[str]) -> None:
        route = self.routes.get(method)
        if route is None:
            raise web.HTTPError(405)
        try:
            if route.scopes:
                await self._authorise(route.scopes)
            _ids_in_range(route, args)
            await route.run(self, *args)
        except AccessError as exc:
            self.write_problem(exc.status, exc.message, exc.field)
        except StaleDataError:
            self.write_problem(409, "changed by someone else: reload")

    async def _authorise(self, required: Sequence[str]) -> None:
        header = self.request.headers.get("Authorization", "")
        kind, _, token = header.partition(" ")
        if kind.lower() not in ("token", "bearer") or not token.strip():
            raise AccessError(401, "a hub token is required (Authorization: token ...)")
        model = await self.context.auth.user_for_token(token.strip(), sync=False)
        if not model:
            raise AccessError(401, "the token is not valid")
        for scope in required:
            if not self.context.auth.check_scopes({scope}, model):
                raise AccessError(403, f"{model.get('name')} lacks the scope {scope}")
        self.token_owner = model

    def body(self, model: type[Body]) -> Any:
        """The request's JSON body as `model` (a 400 naming the field at fault otherwise)."""
        try:
            data = json.loads(self.request.body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            raise AccessError(400, "the body is not valid JSON") from None
        return parse(model, data)

    def write_json(self, data: Any, status: int = 200) -> None:
        """The answer, buffered: it leaves when the route returns (tornado finishes the
        request then), so an answer written inside a transaction is sent only after the
        commit, and a commit that fails becomes the error answer instead of a success the
        client already has (finishing here once let a client see 201 before its draft was
        in the store)."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(data))

    def write_problem(self, status: int, message: str, field: str = "") -> None:
        """The one error answer: `{"status", "message", "field"}` (field: dotted, or empty);
        it replaces whatever the route had buffered."""
        self.clear()
        self.write_json({"status": status, "message": message, "field": field}, status)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # tornado's own refusals (no route, wrong method, an unexpected exception) as JSON too
        message = self._reason
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        self.write_problem(status_code, message)


def _ids_in_range(route: Route, args: Sequence[str]) -> None:
    """A path id beyond the store's 64-bit ids names nothing (and must not reach it)."""
    for name, value in zip(route.params, args, strict=True):
        if name == "id" and int(value) > MAX_ID:
            raise AccessError(404, f"there is no object {value[:24]}...")


class NotFoundHandler(Handler):
    """Any path the service does not serve: a JSON 404 like every other refusal."""

    def initialize(self) -> None:
        super().initialize({})

    def prepare(self) -> None:
        raise web.HTTPError(404, "there is no such endpoint (see api/openapi.json)")


def rules(api: str, routes: Sequence[Route]) -> list[tuple[str, type[Handler], dict[str, Any]]]:
    """tornado's rules for `routes` under `api` (e.g. /services/factory/api): one handler per
    path, serving that path's methods. Two routes for one method and path are an error."""
    by_path: dict[str, dict[str, Route]] = {}
    for route in routes:
        methods = by_path.setdefault(route.path, {})
        if route.method in methods:
            raise ValueError(f"two routes for {route.method.upper()} {route.path}")
        methods[route.method] = route
    return [
        (f"{api}/{next(iter(methods.values())).pattern}", Handler, {"routes": methods})
        for methods in by_path.values()
    ]
