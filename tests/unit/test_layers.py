"""The folders are layers and dependencies point down (README, "How it is built").

hub/aifactory_hub: the pure bottom (site, slurm, policy, advisor, core) <- store <- features
(access, usage, helpdesk, workshops, data, environments) <- the three processes (hubside,
service, console), which never import one another <- the operator's commands (ops). The
widgets run in users' kernels and import only the hub's pure bottom and the features' request
bodies (they validate what they send with the service's own models).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HUB = ROOT / "hub" / "aifactory_hub"
WIDGETS = ROOT / "extensions" / "aifactory_widgets"
# The JupyterLab server extension: it runs in the session's Jupyter server, beside the kernels.
LAB = ROOT / "extensions" / "aifactory_lab"

BOTTOM = {"site", "slurm", "policy", "advisor", "core"}
LAYER = {
    **dict.fromkeys(BOTTOM, 0),
    "store": 1,
    **dict.fromkeys(("access", "usage", "helpdesk", "workshops", "data", "environments"), 2),
    **dict.fromkeys(("hubside", "service", "console"), 3),
    "ops": 4,
}
PROCESSES = 3


def imports(path: Path, package: str = "aifactory_hub") -> list[str]:
    """The modules of `package` that `path` imports (absolute imports; the code uses no
    others). `from package.x import y` counts as importing package.x.y when that is a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            base = node.module or ""
            names = [base, *(f"{base}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [n for n in names if n in MODULES and n.startswith(package + ".")]
    return found


def module_name(path: Path) -> str:
    for root in (HUB, WIDGETS, LAB):
        if path.is_relative_to(root):
            parts = [root.name, *path.relative_to(root).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise ValueError(path)


SOURCES = sorted(
    p for root in (HUB, WIDGETS, LAB) for p in root.rglob("*.py") if "node_modules" not in p.parts
)
MODULES = {module_name(p) for p in SOURCES}


def hub_imports(path: Path) -> list[str]:
    return imports(path, "aifactory_hub")


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


def kernel_safe(module: str, seen: frozenset[str] = frozenset()) -> bool:
    """A feature module a kernel may load: everything it imports, at any depth, is the pure
    bottom or such a module (the data room's staging checks and its job script): never the
    store, the service or the spawner."""
    parts = module.split(".")
    if parts[1] in BOTTOM:
        return True
    if LAYER.get(parts[1]) != 2 or module in seen:
        return module in seen
    path = next(p for p in SOURCES if module_name(p) == module)
    return all(kernel_safe(m, seen | {module}) for m in hub_imports(path))


@pytest.mark.parametrize(
    "path", sorted(WIDGETS.rglob("*.py")), ids=lambda p: str(p.relative_to(WIDGETS))
)
def test_widgets_import_only_the_pure_hub(path: Path):
    for module in hub_imports(path):
        parts = module.split(".")
        allowed = parts[1] in BOTTOM or (LAYER.get(parts[1]) == 2 and parts[-1] == "bodies")
        allowed = allowed or kernel_safe(module)
        assert allowed, f"a widget imports {module}: only the hub's pure bottom may be used"


@pytest.mark.parametrize("path", sorted(LAB.glob("*.py")), ids=lambda p: str(p.relative_to(LAB)))
def test_the_lab_extension_imports_only_what_a_kernel_may(path: Path):
    """The session's server runs as the user, like its kernels: the same rule as the widgets
    (the hub's pure bottom), and the widgets' own client for the service."""
    for module in hub_imports(path):
        assert module.split(".")[1] in BOTTOM or kernel_safe(module), (
            f"the lab extension imports {module}: only the hub's pure bottom may be used"
        )


def test_a_feature_module_that_imports_the_store_is_not_kernel_safe():
    assert kernel_safe("aifactory_hub.site.storage")
    assert not kernel_safe("aifactory_hub.access.projects")  # reads the store


def test_no_import_cycle():
    """No module imports itself through others (an import inside a function counts too)."""
    graph = {}
    for path in SOURCES:
        me = module_name(path)
        found = {
            m
            for pkg in ("aifactory_hub", "aifactory_widgets", "aifactory_lab")
            for m in imports(path, pkg)
        }
        graph[me] = found - {me}  # a package's __init__ names itself importing its submodules
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for other in sorted(graph.get(module, ())):
            visit(other, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
