"""Register an environment the researcher already has as a JupyterLab kernel, in one step.

    from aifactory_widgets import RegisterKernel
    RegisterKernel()

The folder of a venv or conda environment and a name: "Register" checks, as the researcher
(the kernel runs as them), that the folder and its python are theirs and that the python has
ipykernel (if not, it says the command that installs it), then writes the kernel's
specification into ~/.local/share/jupyter/kernels, where JupyterLab's launcher finds it.
The rules are the hub's (`aifactory_hub.environments.register`); a refusal names the field.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping

import ipywidgets as w

from aifactory_hub.environments import register
from aifactory_hub.environments.register import RegisterError
from aifactory_widgets.jobs.limits import session_place
from aifactory_widgets.jobs.placement import field

SHOWN = (
    "It appears in JupyterLab's launcher within a minute (reload the page to see it at once) "
    "and under Kernel > Change Kernel."
)


def kernels_table(home: str) -> str:
    """The user's own kernels as an HTML table (none: a sentence)."""
    kernels = register.list_user_kernels(home)
    if not kernels:
        return "<small>You have no kernels of your own yet.</small>"
    rows = "".join(
        f"<tr><td>{html.escape(k.display_name)}</td><td><code>{html.escape(k.name)}</code></td>"
        f"<td><code>{html.escape(k.python)}</code></td></tr>"
        for k in kernels
    )
    return (
        "<b>Your kernels</b><table><tr><th>Name</th><th>Kernel</th><th>Python</th></tr>"
        f"{rows}</table>"
    )


class RegisterKernel(w.VBox):
    """Environment folder and kernel name; Register writes the kernel (or says why not)."""

    def __init__(self, environ: Mapping[str, str] = os.environ):
        self.home = session_place(environ).home
        self.prefix = field(
            w.Text, "Environment folder", placeholder="~/venvs/myproject  or  ~/miniconda3/envs/x"
        )
        self.display_name = field(w.Text, "Kernel name", placeholder="My project (torch 2.5)")
        self.replace = w.Checkbox(description="Replace a kernel of the same name", indent=False)
        self.register_button = w.Button(description="Register", button_style="primary", icon="plus")
        self.register_button.on_click(lambda _: self.register())
        self.message = w.HTML()
        self.kernels = w.HTML(kernels_table(self.home))
        super().__init__(
            [
                w.HTML("<h3>Use your own environment as a kernel</h3>"),
                self.prefix,
                self.display_name,
                self.replace,
                self.register_button,
                self.message,
                self.kernels,
            ]
        )

    def register(self) -> str:
        """Check and register; returns the kernel's name ('' if refused)."""
        try:
            spec = register.register(
                self.prefix.value,
                self.display_name.value,
                self.home,
                replace=bool(self.replace.value),
            )
        except RegisterError as exc:
            self.message.value = f"Refused: {html.escape(str(exc))}"
            return ""
        except OSError as exc:
            self.message.value = f"Cannot write the kernel: {html.escape(str(exc))}"
            return ""
        name = spec.parent.name
        shown = html.escape(self.display_name.value.strip())
        self.message.value = f"Registered the kernel “{shown}” (<code>{name}</code>). {SHOWN}"
        self.kernels.value = kernels_table(self.home)
        return name
