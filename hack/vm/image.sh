#!/usr/bin/env bash
# Builds the root filesystem, kernel and initrd of the test VM (a Debian 12 node booted by
# systemd on cgroup v2, with Docker on the systemd cgroup driver) into a cache outside the
# tree, ~/.cache/dockercri/vm-<hash of this script>, and prints that directory. Built once
# (debootstrap from Debian's mirror, a few minutes), reused until this script changes.
# The image holds only what a node has before dockercri is installed; what is tested comes
# in at each boot over 9p (hack/vm/run.sh). Only the image's directory goes to stdout:
# run.sh reads it.
set -euo pipefail

suite=bookworm
mirror=${DOCKERCRI_VM_MIRROR:-http://deb.debian.org/debian}
# What a kubeadm-style node runs besides the kubelet: Docker, the CNI plugins, iptables and
# systemd; busybox-static for the tests' images, procps for their checks.
packages=linux-image-amd64,docker.io,containernetworking-plugins,iptables,iproute2,systemd-sysv,dbus,udev,kmod,procps,busybox-static
size=4G

here=$(cd "$(dirname "$0")" && pwd)
hash=$(cat "$here/image.sh" | sha256sum | cut -c1-12)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/dockercri
out=$cache/vm-$hash
if [[ -e $out/done ]]; then
  echo "$out"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "vm image: must run as root (debootstrap)" >&2
  exit 1
fi
missing=()
for need in debootstrap:debootstrap mkfs.ext4:e2fsprogs; do
  command -v "${need%%:*}" >/dev/null 2>&1 || missing+=("${need#*:}")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "vm image: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/vm-build-XXXXXX")
# An interrupted debootstrap leaves /proc and /sys mounted in the chroot: detach what is
# mounted under the build directory before removing it.
cleanup() {
  awk -v w="$work" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
root=$work/root
echo "vm image: debootstrap $suite into $out (a few minutes, once)" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -30 "$work/debootstrap.log" >&2
  exit 1
}

echo dcri-vm >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 dcri-vm\n' >"$root/etc/hosts"
# A machine ID of its own: with none, every boot would be a first boot (presets applied).
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$root/etc/machine-id"
: >"$root/etc/resolv.conf"
: >"$root/etc/fstab"
# Docker on the systemd cgroup driver, as kubeadm's nodes run it.
mkdir -p "$root/etc/docker"
cat >"$root/etc/docker/daemon.json" <<'JSON'
{"exec-opts": ["native.cgroupdriver=systemd"], "log-level": "warn"}
JSON
# The run: mount the host's share, run its run.sh, leave the exit code there, power off.
cat >"$root/usr/local/sbin/dcri-vm-run" <<'SH'
#!/bin/sh
mkdir -p /mnt/host
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host /mnt/host || { echo "dcri-vm: 9p mount failed" >/dev/console; exit 1; }
rc=0
sh /mnt/host/run.sh >/mnt/host/run.log 2>&1 || rc=$?
echo "$rc" >/mnt/host/rc
sync
SH
chmod 0755 "$root/usr/local/sbin/dcri-vm-run"
cat >"$root/etc/systemd/system/dcri-vm-run.service" <<'UNIT'
[Unit]
Description=dockercri VM test run
After=multi-user.target docker.service
Wants=docker.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/dcri-vm-run
ExecStopPost=/bin/systemctl --no-block poweroff
StandardOutput=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/dcri-vm-run.service "$root/etc/systemd/system/multi-user.target.wants/dcri-vm-run.service"
# Nothing logs in; nothing waits for a terminal or the network.
for unit in getty@tty1.service serial-getty@ttyS0.service systemd-networkd-wait-online.service e2scrub_reap.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
# A small initrd: the root is ext4 on virtio-blk; everything else loads from the root.
sed -i 's/^MODULES=.*/MODULES=list/' "$root/etc/initramfs-tools/initramfs.conf"
printf '%s\n' virtio_pci virtio_blk ext4 >>"$root/etc/initramfs-tools/modules"
chroot "$root" update-initramfs -u -k all >"$work/initramfs.log" 2>&1 || {
  cat "$work/initramfs.log" >&2
  exit 1
}
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*

mkdir -p "$work/out"
cp "$root"/boot/vmlinuz-* "$work/out/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/out/initrd"
mkfs.ext4 -q -L root -d "$root" "$work/out/root.ext4" "$size" >&2
touch "$work/out/done"
rm -rf "$out"
mv "$work/out" "$out"
# Images of earlier versions of this script are not used again.
for old in "$cache"/vm-*; do
  [[ $old == "$out" || $old == "$cache"/vm-build-* ]] || rm -rf "$old"
done
echo "$out"
