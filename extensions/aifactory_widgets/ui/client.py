"""The widgets' one way to the factory service: HTTP with the caller's own hub token.

In a researcher's session the token is the session's; in a console dashboard it is the
console service's. Either way the service checks its scopes. (The widgets' other way out is
the researcher's own Slurm commands for their own jobs: sbatch, squeue, sacct and scancel,
run by the kernel as the researcher through jobs/commands.py.)
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

TIMEOUT_S = 15


class FactoryError(RuntimeError):
    """The service refused or could not be reached; the message says why in plain words."""

    def __init__(self, status: int, message: str, field: str = ""):
        self.status = status
        self.field = field
        super().__init__(message)


class FactoryClient:
    def __init__(self, url: str, token: str, actor: str = ""):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not a service URL: {url!r}")
        self.url = url.rstrip("/") + "/"
        self.token = token
        self.actor = actor

    @classmethod
    def from_env(cls) -> FactoryClient:
        """The service URL and token the hub (or the console) put into this kernel."""
        url = os.environ.get("AIFACTORY_FACTORY_URL", "")
        token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        if not url or not token:
            raise FactoryError(0, "not running under AI Factory Hub: no service URL or token")
        return cls(url, token, actor=os.environ.get("AIFACTORY_VIEWER", ""))

    def request(self, method: str, path: str, body: Any = None, as_text: bool = False) -> Any:
        headers = {"Authorization": f"token {self.token}", "Accept": "application/json"}
        if self.actor:
            headers["X-AIFactory-Actor"] = self.actor
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(  # noqa: S310 - the URL was checked to be http(s)
            self.url + path.lstrip("/"), data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            message, field = _error(exc)
            raise FactoryError(exc.code, message, field) from None
        except (urllib.error.URLError, OSError) as exc:
            raise FactoryError(0, f"the factory service did not answer: {exc}") from None
        if as_text:
            return raw.decode()
        return json.loads(raw) if raw else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def text(self, path: str) -> str:
        """A GET whose answer is not JSON (a CSV export)."""
        return self.request("GET", path, as_text=True)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, {} if body is None else body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body)


def _error(exc: urllib.error.HTTPError) -> tuple[str, str]:
    """The service's message and field from an error answer (or the HTTP reason)."""
    try:
        data = json.loads(exc.read())
        return str(data.get("message") or exc.reason), str(data.get("field") or "")
    except (ValueError, AttributeError, OSError):
        return f"HTTP {exc.code}: {exc.reason}", ""
