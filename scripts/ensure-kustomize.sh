#!/usr/bin/env bash
# Print the command that renders a kustomization (its directory goes last), installing
# kustomize first if this machine has no way to: `kustomize build` or `kubectl kustomize` when
# on PATH, else the pinned kustomize, built with Go into .stack/bin (about a minute, once).
#
#   render=$(scripts/ensure-kustomize.sh) && $render k8s/overlays/dev
set -euo pipefail

# v5.8.3 and later need Go 1.27; CI's Debian machine has Go 1.26.
KUSTOMIZE_VERSION=v5.8.2
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.stack/bin"

if command -v kustomize >/dev/null; then
  echo "$(command -v kustomize) build"
elif [[ -x "$bin/kustomize" ]]; then
  echo "$bin/kustomize build"
elif command -v kubectl >/dev/null; then
  echo "$(command -v kubectl) kustomize"
elif command -v go >/dev/null; then
  echo "installing kustomize $KUSTOMIZE_VERSION into $bin" >&2
  GOBIN="$bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2
  echo "$bin/kustomize build"
else
  echo "ensure-kustomize.sh: no kustomize, kubectl or go on PATH; install one of them" >&2
  exit 1
fi
