"""The dependency layer: CDK bundles it on this machine with uv, from the lock, for the
Lambda runtime; a placeholder only when bundling is skipped, and an error unless asked for.

Nothing here downloads: the commands are checked as data, and bundling through CDK runs a
stand-in uv that records its arguments and writes a fake package.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from aws_cdk import App, AssetStaging, Stack

from infra import assets
from infra.stack import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, BackordersStack

ROOT = Path(__file__).resolve().parents[2]
ARM64_PY312 = assets.LayerTarget("3.12", "aarch64-manylinux2014")

FAKE_UV = """#!{python}
import json, pathlib, sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[0] == "export":
    pathlib.Path(args[args.index("--output-file") + 1]).write_text("pydantic==2.14.3\\n")
elif args[:2] == ["pip", "install"]:
    if {fail!r}:
        sys.exit(2)
    site = pathlib.Path(args[args.index("--target") + 1])
    (site / "pydantic" / "__pycache__").mkdir(parents=True)
    (site / "pydantic" / "__init__.py").write_text("")
    (site / "pydantic" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"")
    (site / "bin").mkdir()
    (site / "bin" / "tool").write_text("#!/this/machine/python\\n")
"""


class LayerOnly(Stack):
    """A stack with just the layer, built by the real stack's method: synthesises in ~1 s."""

    _layer = BackordersStack._layer


@dataclass
class LayerSynth:
    s3_key: str
    asset: Path
    messages: list[tuple[str, str]]  # (kind, text) of the layer's annotations


def synth_layer(project: Path, outdir: Path, bytecode_python: str | None = None, **context) -> LayerSynth:
    AssetStaging.clear_asset_hash_cache()  # as in a new `cdk` process: only cdk.out is kept
    app = App(outdir=str(outdir), context=context)
    stack = LayerOnly(app, "Backorders")
    stack._layer(project, outdir / assets.STAGING_DIR, bytecode_python)
    app.synth()
    template = json.loads((outdir / "Backorders.template.json").read_text())
    [layer] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    s3_key = layer["Properties"]["Content"]["S3Key"]
    published = json.loads((outdir / "Backorders.assets.json").read_text())["files"]
    metadata = json.loads((outdir / "Backorders.metadata.json").read_text())
    return LayerSynth(
        s3_key=s3_key,
        asset=outdir / published[s3_key.removesuffix(".zip")]["source"]["path"],
        messages=[
            (e["type"].removeprefix("aws:cdk:"), str(e["data"]))
            for e in metadata.get("/Backorders/Dependencies", [])
            if e["type"] in ("aws:cdk:warning", "aws:cdk:error")
        ],
    )


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def lock_project(tmp_path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    for name in ("uv.lock", "pyproject.toml"):
        shutil.copy(ROOT / name, root / name)
    return root


class FakeUv:
    """A stand-in uv, found through $UV, that records each call's arguments."""

    def __init__(self, folder: Path, monkeypatch) -> None:
        self.script = folder / "uv"
        self.log = folder / "uv-calls.jsonl"
        monkeypatch.setenv("UV", str(self.script))
        self.install()

    def install(self, fail: bool = False) -> None:
        self.script.write_text(FAKE_UV.format(python=sys.executable, log=str(self.log), fail=fail))
        self.script.chmod(self.script.stat().st_mode | stat.S_IXUSR)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def fake_uv(tmp_path, monkeypatch) -> FakeUv:
    return FakeUv(tmp_path, monkeypatch)


# --- what is built -------------------------------------------------------------------


def test_the_layer_targets_the_deployed_runtime_and_architecture(synth):
    assert assets.LayerTarget.of(LAMBDA_RUNTIME, LAMBDA_ARCHITECTURE) == ARM64_PY312
    functions = synth.of_type("AWS::Lambda::Function").values()
    assert {f["Properties"]["Runtime"] for f in functions} == {"python3.12"}
    assert {tuple(f["Properties"]["Architectures"]) for f in functions} == {("arm64",)}
    [layer] = synth.of_type("AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


def test_the_bundler_installs_the_locked_wheels_for_arm64_python_3_12(tmp_path):
    bundler = assets.LayerBundler(ROOT, ARM64_PY312)
    requirements, site = tmp_path / "requirements.txt", tmp_path / "out" / "python"

    assert bundler.export_command("uv", requirements) == [
        "uv", "export", "--frozen", "--no-dev", "--no-emit-project", "--no-header", "--quiet",
        "--format", "requirements-txt", "--output-file", str(requirements),
    ]
    assert bundler.install_command("uv", requirements, site) == [
        "uv", "pip", "install", "--only-binary", ":all:", "--require-hashes", "--link-mode", "copy",
        "--python-platform", "aarch64-manylinux2014", "--python-version", "3.12",
        "--target", str(site), "--requirement", str(requirements),
    ]


def test_the_exported_requirements_are_the_runtime_dependencies_with_hashes(tmp_path):
    # `uv export --frozen` reads uv.lock only: offline, milliseconds.
    bundler = assets.LayerBundler(ROOT, ARM64_PY312)
    requirements = tmp_path / "requirements.txt"
    subprocess.run(bundler.export_command(assets.find_uv(ROOT), requirements), cwd=ROOT, check=True)

    pinned = {
        line.split("==")[0]
        for line in requirements.read_text().splitlines()
        if line and not line.startswith((" ", "#"))
    }
    assert {"aws-lambda-powertools", "pydantic", "pydantic-core", "boto3"} <= pinned
    assert not pinned & {"aws-cdk-lib", "cdk-nag", "constructs", "moto", "pytest", "backorders"}
    assert requirements.read_text().count("--hash=sha256:") >= len(pinned)


def test_the_layer_hash_follows_the_lock_and_the_declared_dependencies_only(lock_project):
    def fingerprint(target=ARM64_PY312) -> str:
        return assets.LayerBundler(lock_project, target).fingerprint()

    before = fingerprint()
    pyproject = lock_project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.unrelated]\nsetting = 1\n")
    assert fingerprint() == before

    text = pyproject.read_text()
    assert text.count("dependencies = [\n") == 1
    pyproject.write_text(text.replace("dependencies = [\n", 'dependencies = [\n    "six",\n'))
    with_six = fingerprint()
    assert with_six != before

    (lock_project / "uv.lock").write_text((lock_project / "uv.lock").read_text() + "\n")
    assert fingerprint() != with_six
    assert fingerprint(assets.LayerTarget("3.13", ARM64_PY312.platform)) != fingerprint()


# --- CDK's local bundling ------------------------------------------------------------


def test_cdk_bundles_the_layer_locally_and_again_only_for_a_new_lock(lock_project, fake_uv, tmp_path):
    outdir = tmp_path / "cdk.out"

    # when bundling is on (the default, as in `cdk synth` and `cdk deploy`)
    first = synth_layer(lock_project, outdir)

    # then uv exported the lock and installed it into the asset's python/ folder
    export, install = fake_uv.calls()
    assert export[:3] == ["export", "--frozen", "--no-dev"]
    target = Path(install[install.index("--target") + 1])
    assert target.name == "python" and target.parent.name.startswith(f"asset.{first.s3_key.removesuffix('.zip')}")
    assert install[install.index("--python-platform") + 1] == "aarch64-manylinux2014"
    # and the asset keeps the packages, without bytecode or console scripts
    assert files(first.asset) == {"python/pydantic/__init__.py"}
    assert first.messages == []

    # when synthesised again, the bundle in cdk.out is reused
    assert synth_layer(lock_project, outdir).s3_key == first.s3_key
    assert len(fake_uv.calls()) == 2

    # when the lock changes, it is rebuilt under a new hash
    (lock_project / "uv.lock").write_text((lock_project / "uv.lock").read_text() + "\n")
    assert synth_layer(lock_project, outdir).s3_key != first.s3_key
    assert len(fake_uv.calls()) == 4


# --- bytecode for the runtime's Python ------------------------------------------------
# Tests use this machine's interpreter as "the runtime's": the same steps, another tag.
HERE = f"{sys.version_info.major}.{sys.version_info.minor}"


def unchecked_hash_bytecode(pyc: Path) -> bool:
    """A .pyc whose header says: hash-based, never checked against the source (PEP 552)."""
    return int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b01


def test_with_the_runtime_python_at_hand_the_layer_ships_its_bytecode_and_hashes_apart(lock_project, fake_uv, tmp_path):
    plain = synth_layer(lock_project, tmp_path / "plain")
    compiled = synth_layer(lock_project, tmp_path / "compiled", bytecode_python=sys.executable)
    assert compiled.s3_key != plain.s3_key, "a layer with bytecode is another asset"
    [pyc] = [compiled.asset / f for f in files(compiled.asset) if f.endswith(".pyc")]
    assert pyc.name == f"__init__.{sys.implementation.cache_tag}.pyc" and unchecked_hash_bytecode(pyc)
    assert files(plain.asset) == {"python/pydantic/__init__.py"}


def test_the_function_bundle_gets_bytecode_for_every_module_when_asked(tmp_path):
    from backorders import topology

    staged = assets.stage_function_code(ROOT, topology.function("api"), tmp_path, bytecode_python=sys.executable)
    sources = list(staged.rglob("*.py"))
    assert len(sources) > 20
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
        assert pyc.is_file() and unchecked_hash_bytecode(pyc), source
    assert not list(assets.stage_function_code(ROOT, topology.function("api"), tmp_path / "plain").rglob("*.pyc"))


def test_an_interpreter_is_used_only_if_it_runs_and_is_the_runtime_version(monkeypatch, tmp_path):
    monkeypatch.setenv(assets.BYTECODE_PYTHON_ENV, sys.executable)
    assert assets.find_python(HERE) == sys.executable
    monkeypatch.setenv(assets.BYTECODE_PYTHON_ENV, str(tmp_path / "no-such-python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert assets.find_python(HERE) is None
    monkeypatch.setenv(assets.BYTECODE_PYTHON_ENV, sys.executable)
    assert assets.find_python("2.7") is None, "another version's bytecode would not load"


def test_a_failed_install_fails_synth_with_the_command(lock_project, fake_uv, tmp_path):
    fake_uv.install(fail=True)
    with pytest.raises(Exception, match=r"building the dependency layer failed \(exit 2\): .*pip install"):
        synth_layer(lock_project, tmp_path / "cdk.out")


# --- bundling skipped ----------------------------------------------------------------

SKIP = {"aws:cdk:bundling-stacks": []}  # what `cdk ls` and `cdk destroy` synthesise with


def test_skipped_bundling_without_the_flag_is_an_error_naming_the_fix(lock_project, fake_uv, tmp_path):
    result = synth_layer(lock_project, tmp_path / "cdk.out", **SKIP)

    [(kind, text)] = result.messages
    assert kind == "error"
    assert "EMPTY placeholder" in text and "must not be deployed" in text
    assert "`npx aws-cdk deploy Backorders` bundles it" in text
    assert "-c backorders:allowPlaceholderLayer=true" in text
    assert fake_uv.calls() == []


def test_cdk_json_does_not_allow_a_placeholder():
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    assert context[assets.ALLOW_PLACEHOLDER_CONTEXT] is False
    assert "aws:cdk:bundling-stacks" not in context


@pytest.mark.parametrize("allowed", [True, "true"], ids=["context", "command line"])
def test_an_allowed_placeholder_is_a_warning_and_never_takes_the_real_layers_hash(
    lock_project, fake_uv, tmp_path, allowed
):
    placeholder = synth_layer(
        lock_project, tmp_path / "skipped", **SKIP, **{assets.ALLOW_PLACEHOLDER_CONTEXT: allowed}
    )

    assert [kind for kind, _ in placeholder.messages] == ["warning"]
    assert "backorders:placeholder-layer" in placeholder.messages[0][1]
    assert files(placeholder.asset) == {f"python/{assets.PLACEHOLDER_FILE}"}
    assert fake_uv.calls() == []
    # an uploaded placeholder cannot be mistaken for the bundled layer of the same lock
    assert placeholder.s3_key != synth_layer(lock_project, tmp_path / "bundled").s3_key

