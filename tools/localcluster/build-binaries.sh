#!/usr/bin/env bash
# Builds the local control plane from Go modules into a per-version cache:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, helm.
# Kubernetes' own go.mod replaces its staging modules with ./staging paths, and
# replace directives only apply in the main module, so `go install` of a
# Kubernetes command cannot work. A wrapper module pins k8s.io/kubernetes and
# repeats its staging list as `replace k8s.io/x => k8s.io/x v0.<minor>.<patch>`.
#
# Usage: build-binaries.sh BIN_DIR [binary ...]   (default: all of them)
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"
HELM_VERSION="${HELM_VERSION:-v3.21.4}"

bin_dir="$1"; shift || true
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl helm)

if ! command -v go >/dev/null 2>&1; then
  echo "error: the Go toolchain is needed to build the local control plane." >&2
  echo "  Either install Go (>= 1.25) so the binaries can be built from Go modules," >&2
  echo "  or set KUBEBUILDER_ASSETS to a folder (setup-envtest layout) holding" >&2
  echo "  etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl." >&2
  exit 3
fi

mkdir -p "$bin_dir"
work="$(dirname "$bin_dir")/src"
mkdir -p "$work"
export GOFLAGS="-mod=mod -trimpath"
export CGO_ENABLED=0

want() { local b; for b in "${wanted[@]}"; do [ "$b" = "$1" ] && return 0; done; return 1; }

build_kubernetes() {
  local mod="$work/kubernetes" cmds=() c
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    want "$c" && cmds+=("k8s.io/kubernetes/cmd/$c")
  done
  [ ${#cmds[@]} -gt 0 ] || return 0
  mkdir -p "$mod"
  local upstream_mod staging minor patch
  upstream_mod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  patch=$(echo "$K8S_VERSION" | cut -d. -f3)
  # The staging list comes from the release's own go.mod, never from memory.
  staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$upstream_mod")
  {
    echo "module autoretrain.local/kubernetes-build"
    echo
    echo "go $(sed -n 's/^go \(.*\)/\1/p' "$upstream_mod")"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    for s in $staging; do echo "replace $s => $s v0.$minor.$patch"; done
  } > "$mod/go.mod"
  local pkg=k8s.io/component-base/version cli=k8s.io/client-go/pkg/version
  local ld="-s -w"
  for p in $pkg $cli; do
    ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld="$ld -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$mod" && go mod download k8s.io/kubernetes && go build -ldflags "$ld" -o "$bin_dir/" "${cmds[@]}")
}

build_etcd() {
  want etcd || return 0
  local mod="$work/etcd"
  mkdir -p "$mod"
  cat > "$mod/go.mod" <<GOMOD
module autoretrain.local/etcd-build

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
  cat > "$mod/main.go" <<'GO'
// Command etcd is etcd's own main, built outside etcd's repository because
// its go.mod carries local replace directives.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$mod" && go build -ldflags "-s -w" -o "$bin_dir/etcd" .)
}

build_helm() {
  want helm || return 0
  # Without the chartutil values, `helm template` assumes Kubernetes v1.20.
  local minor chartutil=helm.sh/helm/v3/pkg/chartutil
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  GOBIN="$bin_dir" go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X $chartutil.k8sVersionMajor=1 -X $chartutil.k8sVersionMinor=$minor" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

build_etcd
build_kubernetes
build_helm
echo "built ${wanted[*]} into $bin_dir"
