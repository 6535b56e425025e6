#!/usr/bin/env bash
# Boots the test VM (hack/vm/image.sh) with systemd as init on cgroup v2, runs
# hack/vm/guest.sh in it with the given files beside it (a 9p share, /mnt/host in the
# guest), shows its output as it comes, and exits with its exit code.
#   hack/vm/run.sh TIMEOUT_SECONDS FILE...
# VM_RUN=regexp runs only those tests of test/vm (vm.test -test.run).
# The VM boots with -snapshot: its disk never changes. No network (-nic none).
# Software emulation (TCG) unless DOCKERCRI_VM_KVM=1: this host's KVM does not boot
# Debian's kernel.
set -euo pipefail

timeout=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
for need in qemu-system-x86_64:qemu-system-x86; do
  command -v "${need%%:*}" >/dev/null 2>&1 && continue
  echo "vm: installing ${need#*:}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need#*:}" >/dev/null
done
image=$("$here/image.sh")

tmp=$(mktemp -d /tmp/dcri-vm-XXXXXX)
share=$tmp/share
mkdir -p "$share/in"
qemu_pid=
cleanup() {
  [[ -n $qemu_pid ]] && kill "$qemu_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cp "$here/guest.sh" "$share/run.sh"
for f in "$@"; do
  cp "$f" "$share/in/"
done
# The guest's environment: the test's timeout, sized for emulation, and which tests run
# (VM_RUN, vm.test's -test.run; empty: all).
{
  echo "DOCKERCRI_VM_TEST_TIMEOUT=${DOCKERCRI_VM_TEST_TIMEOUT:-$((timeout - 120))s}"
  echo "DOCKERCRI_VM_RUN='${VM_RUN:-}'"
} >"$share/env"
: >"$share/run.log"

accel=(-accel tcg,thread=multi -cpu max)
if [[ ${DOCKERCRI_VM_KVM:-} == 1 && -w /dev/kvm ]]; then
  accel=(-accel kvm -cpu host)
fi
start=$SECONDS
qemu-system-x86_64 -machine q35 "${accel[@]}" -smp 2 -m 3072 \
  -kernel "$image/vmlinuz" -initrd "$image/initrd" \
  -append "root=/dev/vda rw console=ttyS0 panic=-1 quiet cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 apparmor=0 systemd.show_status=error" \
  -drive "file=$image/root.ext4,format=raw,if=virtio,snapshot=on" \
  -virtfs "local,path=$share,mount_tag=host,security_model=passthrough,id=host" \
  -nic none -display none -monitor none -serial "file:$tmp/console.log" -no-reboot \
  >"$tmp/qemu.log" 2>&1 &
qemu_pid=$!
tail -n +1 -f "$share/run.log" --pid="$qemu_pid" &
tail_pid=$!
deadline=$((SECONDS + timeout))
while kill -0 "$qemu_pid" 2>/dev/null; do
  if ((SECONDS > deadline)); then
    echo "vm: no result after ${timeout}s; stopping the VM" >&2
    kill "$qemu_pid" 2>/dev/null || true
    break
  fi
  sleep 2
done
wait "$qemu_pid" 2>/dev/null || true
qemu_pid=
wait "$tail_pid" 2>/dev/null || true
took=$((SECONDS - start))
if [[ ! -s $share/rc ]]; then
  echo "vm: the VM ended without a result after ${took}s; qemu said:" >&2
  cat "$tmp/qemu.log" >&2
  echo "vm: its console:" >&2
  tail -60 "$tmp/console.log" >&2
  exit 1
fi
rc=$(cat "$share/rc")
echo "vm: exit code $rc after ${took}s (boot, run and power-off)" >&2
exit "$rc"
