#!/usr/bin/env bash
# Builds the one Lambda layer with the functions' third-party dependencies into
# .build/layer/python/, for the Lambda runtime the stack deploys (arm64, Python 3.12).
#
# The requirements are exported from uv.lock (runtime dependencies only: no dev extras,
# not the project itself), so the layer holds exactly the locked versions. Only wheels
# are used (no source builds, no Docker): uv picks the manylinux aarch64 cp312 ones.
#
# Run it from anywhere, before `cdk deploy`:   scripts/build_layer.sh
# Without it, `cdk synth` still works but deploys an empty placeholder layer (it warns).
set -euo pipefail

# Must match LAMBDA_RUNTIME / LAMBDA_ARCHITECTURE in infra/stack.py (tests check this).
PYTHON_VERSION="3.12"
PYTHON_PLATFORM="aarch64-manylinux2014"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

UV="${UV:-.venv/bin/uv}"
if [[ ! -x "$UV" ]]; then
    UV="$(command -v uv || true)"
fi
if [[ -z "$UV" ]]; then
    echo "build_layer: uv not found (.venv/bin/uv or on PATH); install the dev environment first" >&2
    exit 1
fi

OUT=".build/layer"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/backorders-layer.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

"$UV" export --frozen --no-dev --no-emit-project --no-hashes --no-header \
    --format requirements-txt --output-file "$WORK/requirements.txt" >/dev/null

# Build next to the old layer and swap at the end: a failed build leaves the old one.
mkdir -p "$WORK/layer/python"
"$UV" pip install \
    --python-platform "$PYTHON_PLATFORM" \
    --python-version "$PYTHON_VERSION" \
    --only-binary :all: \
    --target "$WORK/layer/python" \
    --requirement "$WORK/requirements.txt"

# No bytecode (it would be this machine's Python's) and no console scripts (their
# shebangs point here): neither is usable in Lambda.
find "$WORK/layer/python" -depth -type d -name __pycache__ -exec rm -rf {} +
rm -rf "$WORK/layer/python/bin"

mkdir -p "$(dirname "$OUT")"
rm -rf "$OUT"
mv "$WORK/layer" "$OUT"

echo "build_layer: $(du -sh "$OUT" | cut -f1) in $OUT (python $PYTHON_VERSION, $PYTHON_PLATFORM)"
