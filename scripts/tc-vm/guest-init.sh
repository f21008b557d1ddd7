#!/bin/sh
# PID 1 of the tc-vm guest (busybox ash, inside the initramfs that setup.sh
# builds). Mounts the host's / (virtio-9p, read-only) under a tmpfs overlay,
# mounts the read-write shares run.sh asked for at their host paths, runs the
# job inside a chroot with the command's stdout on ttyS1 and stderr on ttyS2,
# writes the exit code into the run share, and powers off.
#
# Kernel boot noise and the messages of this script go to ttyS0 (the console
# file on the host), never to the command's stdout/stderr.
export PATH=/bin:/sbin
umask 022

R=/newroot
RUN=/oxvsrun
# 9p options: a large msize for throughput; the read-only root can cache
# pages ("loose"), the read-write shares keep coherent mmap ("mmap").
P9='trans=virtio,version=9p2000.L,msize=512000'

log() { echo "oxvs-vm-init: $*" >/dev/console; }

halt() {
  sync
  poweroff -f
  reboot -f
  sleep 3600
}

die() {
  log "error: $*"
  [ -d "$RUN" ] && echo "$*" >>"$RUN/init-error" 2>/dev/null
  halt
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
# Static nodes of modular devices (/dev/net/tun, /dev/fuse, ...) as Debian's
# kmod static-nodes creates them: opening one autoloads its module.
while read -r _mod dev spec; do
  case "$spec" in
    c*:*) ;;
    *) continue ;;
  esac
  case "$dev" in */*) mkdir -p "/dev/${dev%/*}" ;; esac
  maj=${spec#c}
  mknod -m 0666 "/dev/$dev" c "${maj%%:*}" "${maj#*:}" 2>/dev/null || true
done </modules.devname

# shellcheck disable=SC1091
. /oxvs.conf || die "no /oxvs.conf in the initramfs"
while read -r mod; do
  [ -n "$mod" ] || continue
  insmod "/modules/$mod" || die "insmod $mod failed"
done </modules/order

mkdir -p /lower /rw "$R" "$RUN"
mount -t 9p -o "$P9,cache=mmap" oxvsrun "$RUN" || die "cannot mount the run share"
[ -f "$RUN/vm.conf" ] || die "no vm.conf in the run share"
mount -t 9p -o "$P9,cache=loose,ro" hostroot /lower || die "cannot mount the host root"
mount -t tmpfs -o mode=755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay "$R" ||
  die "cannot mount the overlay root"

mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount -t devtmpfs devtmpfs "$R/dev"
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts "$R/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$R/run"
mkdir -p "$R/run/netns" "$R/run/lock" "$R/run/oxvs"
# /tmp is an empty tmpfs, unless the command's directory is under the host's
# /tmp: then it stays the host's /tmp seen through the overlay (writable,
# changes thrown away).
grep -qx keep-host-tmp "$RUN/vm.conf" || mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp"
mount -t bpf -o mode=700 bpf "$R/sys/fs/bpf" 2>/dev/null || log "no bpffs"
mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup" 2>/dev/null || true
mount -t tracefs tracefs "$R/sys/kernel/tracing" 2>/dev/null || true
mount -t debugfs debugfs "$R/sys/kernel/debug" 2>/dev/null || true

# Inside the chroot (so that the host's symlinks such as /lib -> usr/lib
# resolve there): the guest kernel's modules at the path modprobe looks at,
# the read-write shares at their host paths ("rw TAG PATH" lines of vm.conf;
# run.sh refuses paths with white space), loopback up.
{
  printf 'set -e\n'
  printf 'mkdir -p "/lib/modules/%s"\n' "$KVER"
  printf 'mount --bind "%s" "/lib/modules/%s"\n' "$KMODDIR" "$KVER"
  while read -r kind tag path; do
    [ "$kind" = rw ] || continue
    printf 'mkdir -p "%s"\n' "$path"
    printf 'mount -t 9p -o "%s,cache=mmap" "%s" "%s"\n' "$P9" "$tag" "$path"
  done <"$RUN/vm.conf"
  printf 'ip link set lo up\n'
} >"$R/run/oxvs/setup.sh"
chroot "$R" /bin/sh /run/oxvs/setup.sh || die "setup inside the chroot failed (modules, shares, lo)"

cp "$RUN/job.sh" "$R/run/oxvs/job.sh" || die "cannot copy the job"
hostname oxvs-vm

# The command sees pipes (not the serial ttys) as stdout/stderr, like under
# cargo's output capture; two cats copy them to the raw serial ports.
stty -F /dev/ttyS1 raw -echo
stty -F /dev/ttyS2 raw -echo
mkfifo /out /err
cat /out >/dev/ttyS1 &
cat_out=$!
cat /err >/dev/ttyS2 &
cat_err=$!

echo booted >"$RUN/status"
chroot "$R" /usr/bin/env -i /bin/bash /run/oxvs/job.sh </dev/null >/out 2>/err
rc=$?

# Processes the command left behind (daemons, sleeps in namespaces) would
# keep the pipes open: kill everything but us and the two cats.
for p in /proc/[0-9]*; do
  p=${p#/proc/}
  case "$p" in 1 | "$cat_out" | "$cat_err") continue ;; esac
  [ -e "/proc/$p/exe" ] && kill -9 "$p" 2>/dev/null  # (kernel threads have no exe)
done
# The cats end when the last writer is gone; the last close of a tty waits
# until the UART has sent everything.
wait "$cat_out" "$cat_err"

echo "$rc" >"$RUN/rc"
halt
