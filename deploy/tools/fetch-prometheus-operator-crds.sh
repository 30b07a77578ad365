#!/usr/bin/env bash
# Print the folder holding the Prometheus Operator's CRDs (PrometheusRule, PodMonitor, ...), as
# its release publishes them (example/prometheus-operator-crd/ of the Go module), fetched through
# the Go module proxy and kept in ~/.cache/linli/prometheus-operator/<version>/. Idempotent.
#
#   deploy/tools/fetch-prometheus-operator-crds.sh [version]   -> /path/to/crds
#
# A schema validator (tests/ops, or kubeconform with schemas generated from these CRDs) reads
# monitoring.coreos.com_prometheusrules.yaml and monitoring.coreos.com_podmonitors.yaml there.
set -euo pipefail

VERSION="${1:-${LINLI_PROMETHEUS_OPERATOR_VERSION:-v0.85.0}}"
MODULE="github.com/prometheus-operator/prometheus-operator"
TARGET="${XDG_CACHE_HOME:-$HOME/.cache}/linli/prometheus-operator/$VERSION"

if [[ -f "$TARGET/monitoring.coreos.com_prometheusrules.yaml" ]]; then
    echo "$TARGET"
    exit 0
fi
command -v go >/dev/null || { echo "fetch-prometheus-operator-crds.sh: needs go" >&2; exit 1; }
dir="$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "$MODULE@$VERSION" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
mkdir -p "$TARGET.partial"
cp "$dir"/example/prometheus-operator-crd/monitoring.coreos.com_*.yaml "$TARGET.partial/"
rm -rf "$TARGET"
mv "$TARGET.partial" "$TARGET"
echo "$TARGET"
