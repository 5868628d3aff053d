"""Code assets for the functions and the dependency layer, staged without Docker.

A function's bundle is its folder `functions/<name>/` plus the domain package
`shared/backorders/` (as `backorders/`), with no tests, caches or CDK. Third-party
dependencies are not in it: they come from the one layer built by
`scripts/build_layer.sh` into `.build/layer/python/`.

Everything is copied into a staging directory under the cloud assembly (cdk.out), and
CDK fingerprints that directory, so the asset hash changes only when a bundled file does.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from backorders import topology

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOMAIN_PACKAGE = Path("shared/backorders")
LAYER_DIR = Path(".build/layer")
STAGING_DIR = "backorders-staging"

# Never shipped in a bundle: tests, caches, packaging metadata.
_IGNORE = shutil.ignore_patterns(
    "__pycache__",
    "*.pyc",
    "*.pyo",
    "tests",
    "test_*.py",
    "*_test.py",
    "conftest.py",
    ".pytest_cache",
    "*.egg-info",
    ".DS_Store",
)


@dataclass(frozen=True)
class LayerSource:
    path: Path
    placeholder: bool


def stage_function_code(project_root: Path, fn: topology.Function, staging_root: Path) -> Path:
    """Copy `functions/<name>/` and the domain package into `staging_root/<name>/`."""
    source = project_root / fn.directory
    module = source / (fn.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
    if not module.is_file():
        raise FileNotFoundError(
            f"function {fn.name!r}: handler {fn.handler!r} needs {module.relative_to(project_root)}"
        )
    domain = project_root / DOMAIN_PACKAGE
    if (source / domain.name).exists():
        raise ValueError(f"{fn.directory}/{domain.name} would shadow the domain package")

    target = staging_root / fn.name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=_IGNORE)
    shutil.copytree(domain, target / domain.name, ignore=_IGNORE)
    return target


def layer_source(project_root: Path, staging_root: Path) -> LayerSource:
    """The built layer, or an empty placeholder when `scripts/build_layer.sh` has not run.

    The placeholder lets tests and CI synthesise without downloading wheels; a stack
    deployed with it has functions that cannot import their dependencies.
    """
    built = project_root / LAYER_DIR
    if (built / "python").is_dir() and any((built / "python").iterdir()):
        return LayerSource(built, placeholder=False)
    placeholder = staging_root / "layer-placeholder"
    shutil.rmtree(placeholder, ignore_errors=True)
    (placeholder / "python").mkdir(parents=True)
    # A Lambda layer zip must not be empty.
    (placeholder / "python" / "PLACEHOLDER.txt").write_text(
        "Placeholder: run scripts/build_layer.sh before deploying.\n"
    )
    return LayerSource(placeholder, placeholder=True)
