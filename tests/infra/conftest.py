"""Synthesise the stack once per test session (synth takes seconds, not milliseconds).

The stack is built against a small copy of the project: the real domain package and
topology, plus stub handlers with a test folder and bytecode next to them, so the tests
do not depend on the handlers being written yet and can check what the bundles leave out.

It is synthesised with cdk.json's context plus `TEST_CONTEXT`: CDK's bundling is skipped
(offline, fast), so the dependency layer is the placeholder, allowed on purpose.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import pytest

from backorders import topology

ROOT = Path(__file__).resolve().parents[2]

# No asset bundling (it would download the layer's wheels), and the placeholder layer
# that results is expected: a warning instead of an error.
TEST_CONTEXT = {
    "aws:cdk:bundling-stacks": [],
    "backorders:allowPlaceholderLayer": True,
}


@dataclass(frozen=True)
class Synth:
    app: object
    stack: object  # infra.stack.BackordersStack
    template: object  # aws_cdk.assertions.Template
    resources: dict
    outdir: Path
    project: Path

    def logical_id(self, construct) -> str:
        return self.stack.get_logical_id(construct.node.default_child)

    def ref(self, token) -> str:
        """A token as it appears in the template, canonicalised for comparisons."""
        return canonical(self.stack.resolve(token))

    def of_type(self, resource_type: str) -> dict[str, dict]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True)


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    for package in ("backorders", "backorders_local"):
        shutil.copytree(ROOT / "shared" / package, root / "shared" / package)
    for fn in topology.FUNCTIONS:
        folder = root / fn.directory
        (folder / "tests").mkdir(parents=True)
        (folder / "app.py").write_text(f"def handler(event, context):\n    return {fn.name!r}\n")
        (folder / "tests" / "test_app.py").write_text("def test_nothing():\n    pass\n")
        (folder / "__pycache__").mkdir()
        (folder / "__pycache__" / "app.cpython-312.pyc").write_bytes(b"\0")
    return root


@pytest.fixture(scope="session")
def synth(project, tmp_path_factory) -> Synth:
    from aws_cdk.assertions import Template

    from infra.app import build_app

    context = json.loads((ROOT / "cdk.json").read_text())["context"] | TEST_CONTEXT
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = build_app(outdir=str(outdir), context=context, project_root=project)
    app.synth()
    template = Template.from_stack(stack)
    return Synth(
        app=app,
        stack=stack,
        template=template,
        resources=template.to_json()["Resources"],
        outdir=outdir,
        project=project,
    )
