"""FactorySpawner: a user's JupyterLab as a Slurm job charged to one of their projects.

Built on batchspawner's SlurmSpawner (its traits, state and singleuser wrapper), but with
the parts that must be safe replaced: options go through the allow-list in site/sessions.py, the
script is rendered by batch.py, its command lines are slurm.jobs' and run without a shell
through slurm.runner, and job state comes from the hub's single poller instead of one squeue
per user.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import batchspawner
from sqlalchemy.orm import object_session
from tornado import web
from traitlets import Float, Unicode, default

from aifactory_hub import slurm
from aifactory_hub.data import folders
from aifactory_hub.environments.session import environment_lines
from aifactory_hub.hubside import batch, presets
from aifactory_hub.hubside.notices import ended_notice, memory_notice
from aifactory_hub.hubside.poller import shared_poller
from aifactory_hub.hubside.spawn_form import render_form, workshop_form
from aifactory_hub.hubside.spawn_inputs import gather_form_inputs
from aifactory_hub.hubside.store_view import StoreView, store_view
from aifactory_hub.site import Site, load_site
from aifactory_hub.site.sessions import (
    OptionError,
    SessionRequest,
    check_allocation,
    validate_options,
)
from aifactory_hub.slurm import states
from aifactory_hub.slurm.jobs import (
    JobInfo,
    named_jobs_argv,
    parse_job_comments,
    parse_sbatch,
    parse_steps,
    sbatch_argv,
    scancel_argv,
    steps_argv,
)


class SessionFailed(RuntimeError):
    """The session's job ended or was refused before JupyterLab came up; says why."""

    @property
    def jupyterhub_message(self) -> str:
        # JupyterHub shows this (spawn API answer and spawn page) instead of a bare
        # "Internal Server Error".
        return str(self)


class FactorySpawner(batchspawner.SlurmSpawner):
    site_file = Unicode(
        "",
        help="Path of the site file (TOML). Empty: $AIFACTORY_SITE or the bundled local demo site.",
    ).tag(config=True)

    session_venv = Unicode(
        str(Path(sys.prefix)),
        help="Python environment the session job runs (must be readable by every user; "
        "default: the hub's own environment).",
    ).tag(config=True)

    connect_ip = Unicode(
        "",
        help="Address the hub uses to reach a session. Empty: the node name Slurm reports.",
    ).tag(config=True)

    startup_poll_interval = Float(
        1.0,
        help="Seconds between state checks while a session starts (served by the shared poller).",
    ).tag(config=True)

    slurm_timeout = Float(
        20.0, help="Seconds before a Slurm command counts as 'controller unreachable'."
    ).tag(config=True)

    @default("apply_user_options")
    def _default_apply_user_options(self):
        return FactorySpawner._apply_options

    @default("options_form")
    def _default_options_form(self):
        return FactorySpawner._options_form

    # --- the site and the user's projects -------------------------------------------------

    _site_cache: dict[str, Site] = {}

    @property
    def site(self) -> Site:
        key = self.site_file or os.environ.get("AIFACTORY_SITE", "")
        if key not in self._site_cache:
            self._site_cache[key] = load_site(self.site_file or None)
        return self._site_cache[key]

    def user_projects(self, view: StoreView):
        """The site's projects of the user, then those granted through access (the store)."""
        own = self.site.projects_of(self.user.name)
        known = {p.account for p in own}
        return [*own, *(p for p in view.projects if p.account not in known)]

    # --- options --------------------------------------------------------------------------

    async def _options_form(self) -> str:
        view = await store_view(self.site, self.user.name)
        if view.workshop is not None:
            return workshop_form(view.workshop)
        prefilled, self._prefill = self._prefill, None
        previous = prefilled or self._previous_request(view)
        projects = self.user_projects(view)
        # What the form shows is the request a Start without changes would submit.
        shown = previous or _default_request(self.site, projects)
        inputs = await gather_form_inputs(
            self.site,
            self.user.name,
            [p.account for p in projects],
            shown,
            _run_as_or_none(self.user.name),
            view.price_terms,
        )
        return render_form(
            self.site,
            projects,
            previous,
            inputs.capacity,
            view.quotas,
            presets=self.presets,
            from_link=prefilled is not None,
            nodes=inputs.nodes,
            queue=inputs.queue,
            prices=inputs.prices,
            expected=inputs.expected,
        )

    def _previous_request(self, view: StoreView) -> SessionRequest | None:
        """What a spawn without options would use: the last options, if still allowed."""
        try:
            return self._validate(self.user_options or {}, view)
        except OptionError:
            return None

    def _validate(self, raw: dict[str, Any], view: StoreView) -> SessionRequest:
        if view.workshop is not None:
            return view.workshop  # a participant picks nothing: the workshop decides
        request = validate_options(raw, site=self.site, projects=self.user_projects(view))
        # The allocation gate reads the store (the collector's figures), never slurmdbd.
        check_allocation(request, view.quotas)
        return request

    async def options_from_form(self, formdata: dict[str, list[str]]) -> dict[str, Any]:
        # JupyterHub awaits this (maybe_future), so the store is read off its event loop.
        view = await store_view(self.site, self.user.name)
        try:
            raw, save, forget = presets.split_form(formdata)
            options = self._validate(raw, view).to_options()
            kept = presets.updated(self.presets, save, options, forget)
        except OptionError as exc:
            raise web.HTTPError(400, str(exc)) from None
        if kept != self.presets:  # saved now: the spawn itself may still fail
            self.presets = kept
            self._save_state()
        return options

    async def options_from_query(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """A spawn link: the same validation as the form; it starts at once only with
        autostart=1, else the form is shown filled in (hubside/presets.py)."""
        view = await store_view(self.site, self.user.name)
        try:
            raw, autostart = presets.query_options(query, self.presets)
            request = self._validate(raw, view)
        except OptionError as exc:
            raise web.HTTPError(400, str(exc)) from None
        if autostart:
            return request.to_options()
        self._prefill = request
        raise presets.Prefill()

    @staticmethod
    async def _apply_options(spawner: FactorySpawner, user_options: dict[str, Any]) -> None:
        """JupyterHub's hook for form and REST options alike: refuse with 400 or accept."""
        if not isinstance(user_options, dict):
            raise web.HTTPError(400, "user_options must be an object")
        view = await store_view(spawner.site, spawner.user.name)
        try:
            request = spawner._validate(user_options, view)
        except OptionError as exc:
            # JupyterHub already saved these as the user's defaults: a refused request must
            # not become what the next spawn without options silently reuses.
            spawner._remember_options({})
            raise web.HTTPError(400, str(exc)) from None
        spawner.session_request = request
        # Store the normalised options, so the form later shows exactly what was used.
        spawner.user_options = request.to_options()
        spawner._remember_options(spawner.user_options)

    def _remember_options(self, options: dict[str, Any]) -> None:
        if self.orm_spawner is not None:
            self.orm_spawner.user_options = options
            self._commit()

    def _commit(self) -> None:
        session = object_session(self.orm_spawner) if self.orm_spawner is not None else None
        if session is not None:
            session.commit()

    session_request: SessionRequest | None = None
    # A spawn link's request, shown once by the next options form (not saved).
    _prefill: SessionRequest | None = None
    # The user's saved presets: {name: options}; kept in the state across sessions.
    presets: dict[str, dict[str, Any]] = {}

    # --- state ----------------------------------------------------------------------------

    pending_info: JobInfo | None = None
    # Why the last running session ended without its user stopping it (templates/home.html
    # shows it); kept in the state until the next start.
    ended_notice: str = ""
    # True from submission until start() returns; checkpointed, so a hub that is killed
    # mid-start finds on restart a job that nobody waits for (`start_interrupted`).
    starting: bool = False
    start_interrupted: bool = False

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self.session_request is not None:
            state["session"] = self.session_request.to_state()
        if self.starting:
            state["starting"] = True
        if self.ended_notice:
            state["ended_notice"] = self.ended_notice
        if self.presets:
            state["presets"] = self.presets
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        session = state.get("session")
        if session:
            self.session_request = SessionRequest(**session)
        self.start_interrupted = bool(state.get("starting")) and bool(self.job_id)
        self.ended_notice = str(state.get("ended_notice") or "")
        saved = state.get("presets")
        self.presets = dict(saved) if isinstance(saved, dict) else {}

    def clear_state(self) -> None:
        super().clear_state()
        self.pending_info = None
        self.starting = False
        self.start_interrupted = False

    def _save_state(self) -> None:
        # Checkpoint the job id at once: a hub killed mid-start must still know its job.
        if self.orm_spawner is not None:
            self.orm_spawner.state = self.get_state()
            self._commit()

    # --- running things -------------------------------------------------------------------

    def _run_as(self) -> slurm.RunAs:
        return slurm.RunAs.lookup(self.user.name)

    def _script_context(self, request: SessionRequest) -> batch.ScriptContext:
        venv_bin = f"{self.session_venv}/bin"
        # By absolute path: the session's environment may put its own bin first on PATH, and
        # JupyterLab must still be the factory's (its extensions match the server's).
        command = [
            *(_in(venv_bin, part) for part in (self.batchspawner_singleuser_cmd, *self.cmd)),
            *self.get_args(),
        ]
        home = pwd.getpwnam(self.user.name).pw_dir
        project_dir = str(folders.project_paths(self.site.storage, request.account)["PROJECT_DIR"])
        return batch.ScriptContext(
            home=home,
            venv_bin=venv_bin,
            command=command,
            spawn_id=secrets.token_hex(8),
            listen_on_node=not self.site.hub.session_ip,
            environment=environment_lines(self.site, request, project_dir, self.session_venv),
        )

    def _prepare_log_dir(self, run_as: slurm.RunAs) -> None:
        path = Path(run_as.home) / batch.SESSION_LOG_DIR
        if not path.is_dir():
            path.mkdir(mode=0o700)
            if os.geteuid() == 0:
                os.chown(path, run_as.uid, run_as.gid)

    def job_env(self) -> dict[str, str]:
        env = self.get_env()
        env["PATH"] = f"{self.session_venv}/bin:/usr/local/bin:/usr/bin:/bin"
        if self.session_request is not None:  # $PROJECT_DIR and $SCRATCH_DIR of its project
            paths = folders.project_paths(self.site.storage, self.session_request.account)
            env.update({name: str(path) for name, path in paths.items()})
        return env

    async def submit_batch_script(self) -> str:
        if self.session_request is None:
            await self._apply_options(self, self.user_options or {})
        request = self.session_request
        run_as = self._run_as()
        self._prepare_log_dir(run_as)
        context = self._script_context(request)
        script = batch.render_session_script(request, context)
        self.log.info(
            "Submitting session for %s: account=%s partition=%s cpus=%d mem=%dG gpus=%d time=%dmin",
            self.user.name,
            request.account,
            request.partition,
            request.cpus,
            request.memory_gb,
            request.gpus,
            request.walltime_minutes,
        )
        try:
            result = await slurm.arun(
                sbatch_argv(),
                input=script,
                env=self.job_env(),
                run_as=run_as,
                timeout=self.slurm_timeout,
            )
        except slurm.ControllerUnreachable:
            # A frozen slurmctld may still queue the job once it wakes: find and cancel it.
            self._sweeps.add(task := asyncio.ensure_future(self._sweep_orphan(context.spawn_id)))
            task.add_done_callback(self._sweeps.discard)
            raise SessionFailed(
                "The cluster's scheduler (slurmctld) is not answering, so no job was submitted. "
                "Try again in a few minutes."
            ) from None
        except slurm.SlurmError as exc:
            raise SessionFailed(f"Slurm refused the session: {_last_line(exc.stderr)}") from None
        job_id = parse_sbatch(result.stdout)
        if not job_id:
            raise SessionFailed(f"sbatch gave no job id: {result.stdout.strip()[:200]!r}")
        self.job_id = job_id
        self._save_state()
        return job_id

    async def job_info(self, max_age: float) -> JobInfo:
        if not self.job_id:  # cleared under us: the session was stopped meanwhile
            return JobInfo("", "gone", error="no job")
        return await shared_poller().get(self.job_id, max_age=max_age)

    async def start(self) -> tuple[str, int]:
        self.ended_notice = ""
        self.port = 0
        self.ip = self.site.hub.session_ip
        self.pending_info = None
        self.starting = True
        await self.submit_batch_script()
        info = await self._wait_until_running()
        host = self.connect_ip or info.node
        while self.port == 0:
            await asyncio.sleep(self.startup_poll_interval)
            # The port comes from the session's own report; Slurm is only asked whether the
            # job died meanwhile, as often as for a running session (in a burst of spawns,
            # JupyterLab starting up is most of the wait, and of the squeues).
            info = await self.job_info(self.site.hub.poll_interval_s)
            if info.phase == "gone":
                raise SessionFailed(self._ended_message(info, started=True))
        self.log.info(
            "Session job %s of %s is up at %s:%s", self.job_id, self.user.name, host, self.port
        )
        self.starting = False
        self._watch((host, self.port))
        return host, self.port

    def _watch(self, address: tuple[str, int] | None) -> None:
        """Have the shared poller tell us the moment the running job is gone. It knocks on
        the session's port each interval and asks Slurm when that goes unanswered."""
        hub = self.site.hub
        shared_poller().watch(
            self.job_id,
            self._job_gone,
            every=hub.poll_interval_s,
            address=address,
            confirm_every=hub.slurm_confirm_s,
        )

    def _server_address(self) -> tuple[str, int] | None:
        """Where the hub reaches the running session (after a hub restart: its record)."""
        server = self.server
        if server is None or not server.ip or not server.port:
            return None
        return server.ip, server.port

    async def _job_gone(self, info: JobInfo) -> None:
        # JupyterHub's own path for a server that stopped: poll (reads the poller's answer),
        # clear the state, run the hub's stop callbacks.
        await self.poll_and_notify()

    async def _wait_until_running(self) -> JobInfo:
        while True:
            info = await self.job_info(self.startup_poll_interval)
            self.pending_info = info
            if info.phase == "running" and info.node:
                return info
            if info.phase == "gone":
                job_id = self.job_id
                shared_poller().untrack(job_id)
                self.clear_state()
                raise SessionFailed(self._ended_message(info, started=False, job_id=job_id))
            await asyncio.sleep(self.startup_poll_interval)

    def _ended_message(self, info: JobInfo, *, started: bool, job_id: str = "") -> str:
        job_id = job_id or info.job_id
        when = "before JupyterLab answered" if started else "before it started"
        detail = f" (exit code {info.exit_code})" if info.exit_code else ""
        reason = f", reason: {info.reason}" if info.reason else ""
        return (
            f"Slurm job {job_id} ended {when}: {info.state or 'gone'}{detail}{reason}. "
            f"Its output is in ~/{batch.SESSION_LOG_DIR}/{job_id}.log. You can start again now."
        )

    async def poll(self) -> int | None:
        if not self.job_id:
            return 0
        if self.start_interrupted:
            # The hub died while this job was starting: its start will never be completed
            # or reported, so cancel it and let the user start again.
            self.log.warning(
                "Cancelling session job %s of %s: the hub stopped while it was starting",
                self.job_id,
                self.user.name,
            )
            await self._cancel(self.job_id)
            shared_poller().untrack(self.job_id)
            self.clear_state()
            return 1
        interval = self.site.hub.poll_interval_s
        watched = self.job_id in shared_poller().watched
        # A watched job is kept fresh by the poller's own loop (a knock on its port every
        # interval, Slurm when that goes unanswered): the hub's periodic poll just reads it,
        # with a slack of one interval so the two never race into a second squeue.
        info = await self.job_info(2 * interval if watched else interval)
        if info.alive:
            if info.phase == "running" and not watched:
                self._watch(self._server_address())  # a session adopted after a hub restart
            return None
        shared_poller().untrack(self.job_id)
        address = self._server_address()
        node = info.node or (address[0] if address else "")
        self.ended_notice = ended_notice(self.job_id, info.state, node, self.session_request)
        self.log.info("Session of %s ended: %s", self.user.name, self.ended_notice)
        self.clear_state()
        return 1

    async def stop(self, now: bool = False) -> None:
        job_id = self.job_id
        if not job_id:
            return
        # We end it ourselves: the watch must not report it "stopped" to the hub meanwhile
        # (a second stop, and a spawner whose state is cleared under this one).
        poller = shared_poller()
        poller.unwatch(job_id)
        self.log.info("Cancelling session job %s of %s", job_id, self.user.name)
        address = self._server_address()
        await self._cancel(job_id)
        if now:
            return
        for _ in range(20):
            info = await poller.get(job_id, max_age=0.5)
            if info.phase == "gone":
                break
            await asyncio.sleep(0.5)
        else:
            self.log.warning("Session job %s still listed 10 s after scancel", job_id)
        poller.untrack(job_id)
        await self._note_memory_kills(job_id, info.node or (address[0] if address else ""))

    async def _note_memory_kills(self, job_id: str, node: str, tries: int = 10) -> None:
        """After the user's own stop: when the job's cgroup killed one of its processes for
        using more memory than the session asked for (a kernel, usually: JupyterLab lives on
        and says only "kernel died"), the hub home says so. Slurm marks the step
        OUT_OF_MEMORY; accounting has the step's end a moment after the job leaves squeue."""
        for _ in range(tries):
            try:
                result = await slurm.arun(
                    steps_argv(job_id), run_as=self._run_as(), timeout=self.slurm_timeout
                )
            except slurm.SlurmError as exc:
                self.log.warning("sacct on stopped session %s failed: %s", job_id, exc)
                return
            steps = parse_steps(result.stdout, job_id)
            if "batch" in steps and not states.is_live(steps["batch"]):
                if "OUT_OF_MEMORY" in steps.values():
                    self.ended_notice = memory_notice(job_id, node, self.session_request)
                    self.log.info("Session of %s: %s", self.user.name, self.ended_notice)
                return
            await asyncio.sleep(0.5)

    _sweeps: set[asyncio.Task] = set()  # class-wide: they outlive a failed spawn

    async def _sweep_orphan(self, spawn_id: str, tries: int = 60) -> None:
        """After an sbatch that timed out: once Slurm answers again, cancel the job that
        sbatch may have queued after all (found by its spawn mark). Two clean answers in a
        row without it mean it was never queued."""
        mark = batch.SPAWN_MARK + spawn_id
        clean = 0
        for _ in range(tries):
            await asyncio.sleep(self.site.hub.poll_interval_s)
            try:
                result = await slurm.arun(
                    named_jobs_argv(self.user.name, batch.JOB_NAME), timeout=self.slurm_timeout
                )
            except slurm.SlurmError:
                clean = 0
                continue
            jobs = parse_job_comments(result.stdout)
            orphans = [job for job, comment in jobs if comment == mark]
            for job in orphans:
                self.log.warning(
                    "Cancelling job %s of %s: queued by an sbatch that had timed out",
                    job,
                    self.user.name,
                )
                await self._cancel(job)
            clean = 0 if orphans else clean + 1
            if clean >= 2:
                return

    async def _cancel(self, job_id: str) -> None:
        try:
            await slurm.arun(
                scancel_argv(job_id), run_as=self._run_as(), timeout=self.slurm_timeout
            )
        except slurm.SlurmError as exc:
            self.log.warning("scancel %s failed: %s", job_id, exc)

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            info = self.pending_info
            if info is None:
                yield {"progress": 10, "message": "Submitting the session to Slurm..."}
            elif info.phase == "running":
                yield {
                    "progress": 80,
                    "message": f"Slurm job {info.job_id} is running on {info.node}; "
                    "waiting for JupyterLab to start...",
                }
                return
            else:
                yield {"progress": 40, "message": pending_message(info)}
            await asyncio.sleep(1)


def _default_request(site: Site, projects: list) -> SessionRequest | None:
    """The site's default request for these projects (what an empty form submits)."""
    if not projects:
        return None
    try:
        return validate_options({}, site=site, projects=projects)
    except OptionError:
        return None


def _run_as_or_none(username: str) -> slurm.RunAs | None:
    """The user's POSIX identity, None for a hub user without one (no test-only run then)."""
    try:
        return slurm.RunAs.lookup(username)
    except KeyError:
        return None


def pending_message(info: JobInfo) -> str:
    """The spawn page's line for a job that is not running yet."""
    if info.phase == "unknown":
        text = f"Slurm job {info.job_id}: waiting for the scheduler to report its state"
        return text + (f" ({info.error})" if info.error and info.error != "not listed" else "")
    text = f"Slurm job {info.job_id} is {info.state.lower() or 'queued'}"
    if info.reason:
        text += f" (reason: {info.reason}{_explain(info.reason)})"
    if info.expected_start:
        text += f"; expected start {info.expected_start}"
    return text


def _explain(reason: str) -> str:
    if reason.startswith("AssocGrp") and "Min" in reason:
        return " - the project's allocation is used up; ask the PI or support"
    if reason.startswith(("AssocGrp", "AssocMax", "QOS")):
        return " - a limit of the project's allocation holds it"
    if reason in ("Resources", "Priority"):
        return " - waiting for free nodes"
    if reason.startswith("ReqNodeNotAvail") or reason == "PartitionDown":
        return " - the partition is not available now"
    return ""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _in(folder: str, command: str) -> str:
    """`command` as an absolute path in `folder` (an absolute one is kept)."""
    return command if command.startswith("/") else f"{folder}/{command}"
