#!/usr/bin/env bash
# Regenerates go.mod/go.sum for a given Kubernetes release. k8s.io/kubernetes pins its staging
# modules at v0.0.0 with local replaces, so a module importing it must replace each one with the
# published v0.X.Y; the list is read from k8s.io/kubernetes's own go.mod, never copied by hand.
set -euo pipefail
cd "$(dirname "$0")"
K8S_VERSION="${1:-v1.36.3}"
STAGING_VERSION="v0.${K8S_VERSION#v1.}"
k8s_dir=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
go_directive=$(sed -n 's/^go \(.*\)$/\1/p' "${k8s_dir}/go.mod")
{
  echo "module github.com/flipt-client-operator/test-controlplane"
  echo
  echo "go ${go_directive}"
  echo
  echo "require k8s.io/kubernetes ${K8S_VERSION}"
  echo
  echo "replace ("
  grep -E '=> \./staging/src/' "${k8s_dir}/go.mod" | awk -v v="${STAGING_VERSION}" '{print "\t" $1 " => " $1 " " v}'
  echo ")"
} > go.mod
rm -f go.sum
go mod tidy
