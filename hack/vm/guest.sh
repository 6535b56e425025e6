#!/bin/sh
# Runs in the test VM (hack/vm/run.sh), from the host's share at /mnt/host: copies the test
# binary and what it installs to the VM's disk and runs the in-VM suite (test/vm) there.
set -eu
. /mnt/host/env
echo "guest: kernel $(uname -r), $(nproc) CPUs, $(stat -fc %T /sys/fs/cgroup), up $(cut -d' ' -f1 /proc/uptime)s"
rm -rf /opt/dcri
mkdir -p /opt/dcri
cp /mnt/host/in/* /opt/dcri/
cd /opt/dcri
rc=0
./vm.test -test.v -test.timeout "$DOCKERCRI_VM_TEST_TIMEOUT" -test.run "${DOCKERCRI_VM_RUN:-.}" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "guest: the journal of dockercri and docker:"
  journalctl --no-pager -o short-monotonic -u dockercri.service -u dockercri.socket -u docker.service | tail -80
fi
exit "$rc"
