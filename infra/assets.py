"""Code assets for the functions and the dependency layer, built without Docker.

A function's bundle is its folder `functions/<name>/` plus the domain package
`shared/backorders/` (as `backorders/`), with no tests, caches or CDK. It is copied into a
staging directory under the cloud assembly (cdk.out), and CDK fingerprints that
directory, so the asset hash changes only when a bundled file does.

Third-party dependencies are not in it: they come from the one layer, which CDK's asset
bundling builds with `LayerBundler` on this machine (uv installs the locked wheels for the
Lambda runtime's Python and architecture). Its asset hash is the lock's fingerprint, so it
is rebuilt only when uv.lock or the project's dependencies change.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from backorders import topology

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOMAIN_PACKAGE = Path("shared/backorders")
STAGING_DIR = "backorders-staging"

# With CDK's bundling skipped for the stack (aws:cdk:bundling-stacks, as in `cdk ls`,
# `cdk destroy` and the tests), the layer is a placeholder: an error unless this is true.
ALLOW_PLACEHOLDER_CONTEXT = "backorders:allowPlaceholderLayer"
PLACEHOLDER_FILE = "PLACEHOLDER.txt"

# Lambda architecture -> uv's --python-platform. manylinux2014 (glibc 2.17) wheels run on
# every Lambda Python runtime.
_PLATFORMS = {"arm64": "aarch64-manylinux2014", "x86_64": "x86_64-manylinux2014"}

# The lock's runtime dependencies only (no extras or dev groups, not the project itself),
# with their hashes.
_EXPORT_ARGS = (
    "export", "--frozen", "--no-dev", "--no-emit-project", "--no-header", "--quiet",
    "--format", "requirements-txt",
)
# Wheels only (no source builds, no Docker), checked against the lock's hashes; copied,
# not linked, so the asset shares no file with uv's cache.
_INSTALL_ARGS = ("pip", "install", "--only-binary", ":all:", "--require-hashes", "--link-mode", "copy")

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


# Lambda's /var/task and /opt are read-only: without bytecode shipped for its Python, every
# cold start compiles pydantic, powertools and our code from source. Bytecode is made by an
# interpreter of the runtime's own version found on the deploying machine (this variable,
# else `python3.12` on PATH); without one the bundles ship as source, with a warning.
BYTECODE_PYTHON_ENV = "BACKORDERS_BYTECODE_PYTHON"


def find_python(version: str) -> str | None:
    """An interpreter of this Python version ("3.12") that runs here, if any."""
    for candidate in (os.environ.get(BYTECODE_PYTHON_ENV), shutil.which(f"python{version}")):
        if not candidate:
            continue
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, timeout=30, check=False,
            )
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None


def compile_bytecode(folder: Path, python: str) -> None:
    """Bytecode beside every module of `folder`, for `python`'s version, never checked
    against its source (unchecked-hash): a bundle's files never change, and a timestamp
    check would need the mtimes, which a zip keeps only to 2 seconds."""
    command = [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(folder)]
    done = subprocess.run(command, stdout=sys.stderr, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"compiling bytecode failed (exit {done.returncode}): " + " ".join(command))


def stage_function_code(project_root: Path, fn: topology.Function, staging_root: Path, bytecode_python: str | None = None) -> Path:
    """Copy `functions/<name>/` and the domain package into `staging_root/<name>/`, with
    bytecode made by `bytecode_python` when given."""
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
    if bytecode_python:
        compile_bytecode(target, bytecode_python)
    return target


@dataclass(frozen=True)
class LayerTarget:
    """The Lambda runtime the layer's wheels are installed for."""

    python_version: str  # "3.12"
    platform: str  # uv's --python-platform, e.g. "aarch64-manylinux2014"

    @classmethod
    def of(cls, runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> LayerTarget:
        if not runtime.name.startswith("python"):
            raise ValueError(f"not a Python runtime: {runtime.name}")
        return cls(runtime.name.removeprefix("python"), _PLATFORMS[architecture.name])


def find_uv(project_root: Path) -> str:
    """uv from $UV, the running virtualenv, the project's .venv, or PATH."""
    candidates = (
        os.environ.get("UV"),
        Path(sys.executable).parent / "uv",
        project_root / ".venv" / "bin" / "uv",
        shutil.which("uv"),
    )
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise FileNotFoundError(
        "uv not found ($UV, .venv/bin/uv or PATH): run scripts/dev setup and put .venv/bin on PATH"
    )


@jsii.implements(ILocalBundling)
class LayerBundler:
    """Installs the locked runtime dependencies into `<output>/python`, on this machine."""

    def __init__(self, project_root: Path, target: LayerTarget, bytecode_python: str | None = None) -> None:
        self.project_root = project_root
        self.target = target
        self.bytecode_python = bytecode_python

    def export_command(self, uv: str, requirements: Path) -> list[str]:
        return [uv, *_EXPORT_ARGS, "--output-file", str(requirements)]

    def install_command(self, uv: str, requirements: Path, site_packages: Path) -> list[str]:
        return [
            uv,
            *_INSTALL_ARGS,
            "--python-platform", self.target.platform,
            "--python-version", self.target.python_version,
            "--target", str(site_packages),
            "--requirement", str(requirements),
        ]

    def fingerprint(self) -> str:
        """What the layer is built from: the lock, the declared dependencies, the recipe.

        Only `[project]` of pyproject.toml counts, so tool settings do not rebuild it.
        """
        lock = self.project_root / "uv.lock"
        if not lock.is_file():
            raise FileNotFoundError(f"{lock} is missing: the layer is built from the lock")
        project = tomllib.loads((self.project_root / "pyproject.toml").read_text())["project"]
        recipe = {
            "lock": hashlib.sha256(lock.read_bytes()).hexdigest(),
            "dependencies": project.get("dependencies", []),
            "requires-python": project.get("requires-python"),
            "target": [self.target.python_version, self.target.platform],
            "bytecode": self.bytecode_python is not None,
            "export": _EXPORT_ARGS,
            "install": _INSTALL_ARGS,
        }
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()

    def build(self, output_dir: Path) -> None:
        uv = find_uv(self.project_root)
        site_packages = output_dir / "python"
        site_packages.mkdir(parents=True, exist_ok=True)
        # Never fetch a Python interpreter: only wheels come from the index.
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
        with tempfile.TemporaryDirectory(prefix="backorders-layer-") as work:
            requirements = Path(work) / "requirements.txt"
            for command in (
                self.export_command(uv, requirements),
                self.install_command(uv, requirements, site_packages),
            ):
                # stdout stays clean for the CDK app; uv's progress goes to stderr.
                done = subprocess.run(command, cwd=self.project_root, env=env, stdout=sys.stderr)
                if done.returncode != 0:
                    raise RuntimeError(
                        f"building the dependency layer failed (exit {done.returncode}): "
                        + " ".join(command)
                    )
        # No bytecode of this machine's Python and no console scripts (their shebangs point
        # here): neither is usable in Lambda. Bytecode for the runtime's Python, if it is here.
        for cache in sorted(site_packages.rglob("__pycache__"), reverse=True):
            shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(site_packages / "bin", ignore_errors=True)
        if self.bytecode_python:
            compile_bytecode(site_packages, self.bytecode_python)
        else:
            print(
                f"dependency layer: no python{self.target.python_version} here (set {BYTECODE_PYTHON_ENV}): "
                "shipped without bytecode, so each cold start compiles it",
                file=sys.stderr,
            )
        print(
            f"dependency layer: {_size_mb(site_packages):.0f} MB for python "
            f"{self.target.python_version} {self.target.platform}",
            file=sys.stderr,
        )

    def try_bundle(self, output_dir: str, *, image: DockerImage | None = None, **_options) -> bool:
        # Always local: a failure raises (CDK reports it), it never falls back to Docker.
        self.build(Path(output_dir))
        return True


def _size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def layer_code(
    project_root: Path,
    staging_root: Path,
    *,
    runtime: lambda_.Runtime,
    architecture: lambda_.Architecture,
    bundle: bool,
    bytecode_python: str | None = None,
) -> lambda_.Code:
    """The dependency layer: bundled by `LayerBundler`, or a placeholder if `bundle` is false.

    `bundle` is false when CDK skips bundling for the stack; CDK then ships the source
    folder as it is, which is why that folder holds the placeholder. Its asset hash is the
    placeholder's own, never the lock's: an uploaded placeholder cannot be taken for the
    real layer of the same lock.
    """
    bundler = LayerBundler(project_root, LayerTarget.of(runtime, architecture), bytecode_python)
    source = staging_root / "layer-source"
    shutil.rmtree(source, ignore_errors=True)
    (source / "python").mkdir(parents=True)
    # A Lambda layer zip must not be empty.
    (source / "python" / PLACEHOLDER_FILE).write_text(
        "Placeholder: CDK skipped bundling this layer. `npx aws-cdk deploy` bundles it.\n"
    )
    # The image is only CDK's fallback when local bundling declines, which it never does.
    bundling = BundlingOptions(image=runtime.bundling_image, local=bundler)
    if not bundle:
        return lambda_.Code.from_asset(str(source), bundling=bundling)
    return lambda_.Code.from_asset(
        str(source),
        asset_hash=bundler.fingerprint(),
        asset_hash_type=AssetHashType.CUSTOM,
        bundling=bundling,
    )
