"""pyproject.toml (the pip truth) and environment.yml (conda) list the same packages."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# conda-forge names that differ from PyPI names, and conda-only entries.
CONDA_ONLY = {"python", "nodejs", "configurable-http-proxy", "pip"}


def _name_and_floor(spec: str) -> tuple[str, str]:
    match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*(?:>=\s*([0-9][^,;\s]*))?", spec.strip())
    assert match, spec
    return match.group(1).lower().replace("_", "-"), match.group(2) or ""


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        pip_specs += extra
    pip = dict(_name_and_floor(s) for s in pip_specs)

    conda = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("\ndependencies:\n", 1)[1].splitlines():
        m = re.match(r"^  - ([A-Za-z0-9_.>=-]+)\s*$", line)
        if m:
            name, floor = _name_and_floor(m.group(1))
            if name not in CONDA_ONLY:
                conda[name] = floor
    assert conda == pip
