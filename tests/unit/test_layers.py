"""The folders are layers and dependencies point down (README, "How it is built").

hub/aifactory_hub: the pure bottom (site, slurm, policy, advisor, core) <- store <- features
(access, usage, helpdesk, workshops) <- the three processes (hubside, service, console), which
never import one another <- the operator's commands (ops). The widgets run in users' kernels and
import only the hub's pure bottom and the features' request bodies (they validate what they
send with the service's own models).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HUB = ROOT / "hub" / "aifactory_hub"
WIDGETS = ROOT / "extensions" / "aifactory_widgets"

BOTTOM = {"site", "slurm", "policy", "advisor", "core"}
LAYER = {
    **dict.fromkeys(BOTTOM, 0),
    "store": 1,
    **dict.fromkeys(("access", "usage", "helpdesk", "workshops"), 2),
    **dict.fromkeys(("hubside", "service", "console"), 3),
    "ops": 4,
}
PROCESSES = 3


def hub_imports(path: Path) -> list[str]:
    """The aifactory_hub modules `path` imports (absolute imports; the code uses no others)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            base = node.module or ""
            # `from aifactory_hub import slurm` imports the module aifactory_hub.slurm
            names = [f"{base}.{a.name}" for a in node.names] if base == "aifactory_hub" else [base]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [n for n in names if n == "aifactory_hub" or n.startswith("aifactory_hub.")]
    return found


def hub_modules() -> list[Path]:
    return sorted(p for p in HUB.rglob("*.py") if len(p.relative_to(HUB).parts) > 1)


def test_every_hub_folder_is_a_known_layer():
    folders = {p.name for p in HUB.iterdir() if (p / "__init__.py").exists()}
    assert folders == set(LAYER), "a new folder needs its place in LAYER (and in the README)"


@pytest.mark.parametrize("path", hub_modules(), ids=lambda p: str(p.relative_to(HUB)))
def test_hub_imports_point_down(path: Path):
    mine = path.relative_to(HUB).parts[0]
    for module in hub_imports(path):
        theirs = module.split(".")[1]
        if theirs == mine or theirs not in LAYER:
            continue
        assert LAYER[theirs] <= LAYER[mine], f"{mine} imports {module}, a layer above it"
        assert not (LAYER[mine] == LAYER[theirs] == PROCESSES), (
            f"{mine} imports {module}: the hub, the service and the console share only the "
            "layers below them"
        )


@pytest.mark.parametrize(
    "path", sorted(WIDGETS.rglob("*.py")), ids=lambda p: str(p.relative_to(WIDGETS))
)
def test_widgets_import_only_the_pure_hub(path: Path):
    for module in hub_imports(path):
        parts = module.split(".")
        allowed = parts[1] in BOTTOM or (LAYER.get(parts[1]) == 2 and parts[-1] == "bodies")
        assert allowed, f"a widget imports {module}: only the hub's pure bottom may be used"
