"""Read `infra/terraform` with python-hcl2, and evaluate its catalog module with terraform if present.

python-hcl2 8 keeps HCL's quotes (`"\"extractions\""`) and marks blocks with `__is_block__`;
`plain` turns that into ordinary Python values: strings without their quotes, expressions kept
as `${...}` text.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = ROOT / "infra" / "terraform"
CATALOG_MODULE = TERRAFORM_DIR / "modules" / "catalog"


@dataclass(frozen=True)
class TerraformConfig:
    resources: dict[tuple[str, str], dict[str, Any]]  # (type, name) -> attributes
    data: dict[tuple[str, str], dict[str, Any]]
    variables: dict[str, dict[str, Any]]
    modules: dict[str, dict[str, Any]]
    locals: dict[str, Any]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: body for (kind, name), body in self.resources.items() if kind == resource_type}


def load_terraform(directory: Path = TERRAFORM_DIR) -> TerraformConfig:
    """Every `.tf` file of one module (not its submodules), parsed and merged."""
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    data: dict[tuple[str, str], dict[str, Any]] = {}
    variables: dict[str, dict[str, Any]] = {}
    modules: dict[str, dict[str, Any]] = {}
    local_values: dict[str, Any] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            parsed = plain(hcl2.load(handle))
        for block in parsed.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    resources[(kind, name)] = body
        for block in parsed.get("data", []):
            for kind, named in block.items():
                for name, body in named.items():
                    data[(kind, name)] = body
        for block in parsed.get("variable", []):
            variables.update(block)
        for block in parsed.get("module", []):
            modules.update(block)
        for block in parsed.get("locals", []):
            local_values.update(block)
    return TerraformConfig(resources, data, variables, modules, local_values)


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {plain(key): plain(item) for key, item in value.items() if key != "__is_block__"}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, str) and len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        try:
            return json.loads(value)
        except ValueError:
            return value[1:-1]
    return value


def terraform_binary() -> str | None:
    return shutil.which("terraform")


def evaluate_catalog(expression: str, *, project: str, catalog_json: str, workdir: Path, region: str = "") -> Any:
    """`expression` evaluated in the catalog module by `terraform console` (no provider, offline)."""
    terraform = terraform_binary()
    assert terraform is not None
    module_copy = workdir / "catalog"
    shutil.copytree(CATALOG_MODULE, module_copy, dirs_exist_ok=True)
    done = subprocess.run(
        [
            terraform,
            "console",
            "-var",
            f"catalog_json={catalog_json}",
            "-var",
            f"project={project}",
            "-var",
            f"region={region}",
        ],  # fmt: skip
        input=f"jsonencode({expression})\n",
        capture_output=True,
        text=True,
        cwd=module_copy,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "TF_IN_AUTOMATION": "1", "HOME": str(workdir), "CHECKPOINT_DISABLE": "1"},
    )
    assert done.returncode == 0, f"terraform console failed:\n{done.stderr}"
    return json.loads(json.loads(done.stdout.strip().splitlines()[-1]))
