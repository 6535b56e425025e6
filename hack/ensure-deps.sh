#!/usr/bin/env bash
# Installs, from Debian's packages, what dockercri and its tests run against, when it is
# missing: Docker Engine, the CNI plugins, a registry for the tests, a static busybox for
# test images, iptables, procps (pgrep, for the CRI validation suite's images), curl and
# netcat-openbsd (whose libraries the node e2e's agnhost image takes from the host) and what
# hack/build-engine.sh builds runc with (pkg-config, libseccomp-dev), and qemu-user-static,
# which runs the built-in pause program of the other architecture (arm64 on amd64, amd64
# on arm64) in the unit tests. Installs nothing when all is there.
#
# `ensure-deps.sh unit` installs only what the unit tests need (qemu-user-static); as a
# user other than root it says what is missing and succeeds: the tests that need it skip.
set -euo pipefail

# command-or-file:package
needs=(
  dockerd:docker.io
  containerd:containerd
  runc:runc
  /usr/lib/cni/bridge:containernetworking-plugins
  docker-registry:docker-registry
  /usr/bin/busybox:busybox-static
  iptables:iptables
  curl:curl
  nc.openbsd:netcat-openbsd
  pgrep:procps
  pkg-config:pkg-config
  /usr/include/seccomp.h:libseccomp-dev
  qemu-aarch64-static:qemu-user-static
)
unit=false
if [[ ${1:-} == unit ]]; then
  unit=true
  needs=(qemu-aarch64-static:qemu-user-static)
fi

missing=()
for need in "${needs[@]}"; do
  what=${need%%:*} pkg=${need#*:}
  if [[ $what == /* ]]; then [[ -e $what ]] && continue; else command -v "$what" >/dev/null 2>&1 && continue; fi
  missing+=("$pkg")
done
# busybox (the dynamic one) also provides /usr/bin/busybox; the test images need the static one.
if ! $unit && [[ -e /usr/bin/busybox ]] && ! dpkg -s busybox-static >/dev/null 2>&1; then
  missing+=(busybox-static)
fi
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "ensure-deps: missing ${missing[*]}; run as root to install them" >&2
  $unit && exit 0
  exit 1
fi
echo "ensure-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
