"""CDK entry point: `npx aws-cdk synth` runs `python -m infra.app` (see cdk.json)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import App, Aspects
from cdk_nag import AwsSolutionsChecks

from infra import assets
from infra.stack import BackordersStack, DeploySettings

DEFAULT_STACK_NAME = "Backorders"


def build_app(
    *,
    outdir: str | None = None,
    context: dict | None = None,
    project_root: Path = assets.PROJECT_ROOT,
) -> tuple[App, BackordersStack]:
    """The app with its one stack and cdk-nag's AWS Solutions checks as an Aspect.

    Tests call this with the context of cdk.json, so they see what `cdk synth` sees, except
    the dependency layer: they skip CDK's bundling and allow its placeholder
    (tests/infra/conftest.py).
    """
    app = App(outdir=outdir, context=context)
    stack = BackordersStack(
        app,
        "Backorders",
        stack_name=app.node.try_get_context("backorders:stackName") or DEFAULT_STACK_NAME,
        description="Backorders: shortfall -> approved PO -> vendor order -> handover -> GRN",
        settings=DeploySettings.from_context(app.node),
        project_root=project_root,
    )
    # Every finding is an error or warning annotation unless suppressed with a reason.
    Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app, stack


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
