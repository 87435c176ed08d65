"""A kernel inside a user's running session, driven the way JupyterLab drives it.

The kernel is started by the session's own Jupyter server (inside the user's Slurm job, as
the user, with the session's environment) over its REST API, and code runs through the
kernel websocket, both through the hub's proxy with the user's hub token. So whatever the
code submits to Slurm is submitted by the user, from the session, as in a notebook.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import requests
import websocket


class KernelError(AssertionError):
    """The code raised in the kernel; the message is its traceback."""


@dataclass
class Execution:
    stdout: str = ""
    stderr: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)  # execute_result/display_data
    error: str = ""


class SessionKernel:
    def __init__(
        self, hub_url: str, user: str, token: str, timeout: float = 60, kernel: str = "python3"
    ):
        """`kernel`: the kernel's name, as a notebook's metadata names it (`python3`, the
        session environment's; `aifactory`, the AI Factory tools kernel)."""
        self.base = f"{hub_url.rstrip('/')}/user/{user}/"
        self.headers = {"Authorization": f"token {token}"}
        resp = requests.post(
            self.base + "api/kernels", json={"name": kernel}, headers=self.headers, timeout=60
        )
        assert resp.status_code == 201, resp.text
        self.id = resp.json()["id"]
        self.token, self.timeout = token, timeout
        self.connect()

    def connect(self) -> None:
        """(Re)open the kernel's websocket, as JupyterLab does after a kernel restart."""
        ws_url = self.base.replace("http://", "ws://", 1) + f"api/kernels/{self.id}/channels"
        self.ws = websocket.create_connection(
            ws_url, header=[f"Authorization: token {self.token}"], timeout=self.timeout
        )
        self.session = uuid.uuid4().hex
        self.execute("1")  # the kernel answers: it is up

    def send(self, code: str, msg_id: str = "") -> str:
        """Ask the kernel to run `code` and return at once (its message id): for code the
        kernel may not live through."""
        msg_id = msg_id or uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "username": "test",
            "session": self.session,
            "msg_type": "execute_request",
            "version": "5.3",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        content = {"code": code, "silent": False, "store_history": True,
                   "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}  # fmt: skip
        message = {"header": header, "parent_header": {}, "metadata": {}, "content": content,
                   "channel": "shell", "buffers": []}  # fmt: skip
        self.ws.send(json.dumps(message))
        return msg_id

    def execute(self, code: str, timeout: float = 300, check: bool = True) -> Execution:
        """Run `code`; collect its output until the kernel is idle again."""
        msg_id = self.send(code)
        result = Execution()
        deadline = time.monotonic() + timeout
        idle = replied = False
        while not (idle and replied):
            self.ws.settimeout(max(1.0, deadline - time.monotonic()))
            if time.monotonic() > deadline:
                raise TimeoutError(f"kernel still busy after {timeout} s running:\n{code}")
            raw = self.ws.recv()
            if isinstance(raw, bytes):
                continue  # a widget message with binary buffers (an image): not what we wait for
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, body = msg["msg_type"], msg["content"]
            if kind == "stream":
                if body["name"] == "stdout":
                    result.stdout += body["text"]
                else:
                    result.stderr += body["text"]
            elif kind in ("execute_result", "display_data"):
                result.results.append(body.get("data", {}))
            elif kind == "error":
                result.error = "\n".join(body.get("traceback", [])) or body.get("evalue", "")
            elif kind == "status" and body.get("execution_state") == "idle":
                idle = True
            elif kind == "execute_reply":
                replied = True
        if check and result.error:
            raise KernelError(f"{code}\n---\n{result.error}")
        return result

    def value(self, expression: str, timeout: float = 300) -> Any:
        """A JSON-able value computed in the kernel."""
        out = self.execute(f"import json as _j; print(_j.dumps({expression}))", timeout)
        return json.loads(out.stdout.strip().splitlines()[-1])

    def shutdown(self) -> None:
        try:
            self.ws.close()
        finally:
            requests.delete(self.base + f"api/kernels/{self.id}", headers=self.headers, timeout=60)


# Asked of the kernel after the notebook's cells: where they ran (as whom, in which job, on
# which node), so a test can show they ran in the session and not in a kernel of its own.
WHERE = (
    "{'user': __import__('getpass').getuser(), "
    "'job': __import__('os').environ.get('SLURM_JOB_ID', ''), "
    "'node': __import__('socket').gethostname()}"
)


@dataclass
class NotebookRun:
    """What a notebook's code cells produced, one Execution per code cell in order, and
    where its kernel ran."""

    kernel: str
    cells: list[Execution]
    user: str
    job: str
    node: str

    @property
    def errors(self) -> list[str]:
        return [cell.error for cell in self.cells if cell.error]

    def outputs(self, mimetype: str) -> list[dict[str, Any]]:
        """The execute_result/display_data bundles that carry `mimetype`, in order."""
        return [data for cell in self.cells for data in cell.results if mimetype in data]


def run_notebook(
    hub_url: str, user: str, token: str, path: Path, timeout: float = 300
) -> NotebookRun:
    """Run the notebook at `path` as a researcher does in JupyterLab (open it, Run All): in
    a new kernel of `user`'s running session, of the kind the notebook's metadata names,
    each code cell in order, stopping at the first that raises. The kernel is shut down
    afterwards; the caller asserts on what the cells produced."""
    notebook = nbformat.read(path, as_version=4)
    name = notebook.metadata.kernelspec.name
    kernel = SessionKernel(hub_url, user, token, kernel=name)
    try:
        cells: list[Execution] = []
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            cells.append(kernel.execute(cell.source, timeout=timeout, check=False))
            if cells[-1].error:
                break
        where = kernel.value(WHERE)
    finally:
        kernel.shutdown()
    return NotebookRun(name, cells, where["user"], where["job"], where["node"])
