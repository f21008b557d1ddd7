#!/usr/bin/env bash
# Prepares what scripts/tc-vm/run.sh boots: installs the host tools (apt, as
# root), downloads and extracts Debian's stock kernel (the one that
# linux-image-amd64 depends on) without installing it, and builds a small
# busybox initramfs. Everything goes into ${OXVS_VM_DIR:-<repo>/target/tc-vm}.
#
#   setup.sh              check everything, (re)build what is missing or stale
#   setup.sh --if-needed  return at once when a previous setup is complete and
#                         the scripts did not change (run.sh uses this)
#
# Idempotent; safe to run concurrently (flock). Progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
D=${OXVS_VM_DIR:-$repo/target/tc-vm}
mkdir -p "$D"
D=$(cd "$D" && pwd -P)
# The guest's init writes this path into shell commands.
[[ "$D" =~ ^[A-Za-z0-9._/+@,=~-]+$ ]] || {
  echo "tc-vm setup: error: OXVS_VM_DIR=$D: only [A-Za-z0-9._/+@,=~-] allowed" >&2
  exit 1
}
PKGS=(qemu-system-x86 busybox-static kmod iproute2)
# Modules the initramfs loads before it can mount anything (with their
# dependencies, resolved by modprobe --show-depends).
INITRD_MODULES=(virtio_pci 9pnet_virtio 9p overlay)

say() { echo "tc-vm setup: $*" >&2; }
die() {
  echo "tc-vm setup: error: $*" >&2
  exit 1
}

stamp() {
  # Anything that changes the initramfs: the scripts and busybox.
  cat "$here/setup.sh" "$here/guest-init.sh" /bin/busybox 2>/dev/null | sha256sum | cut -c1-16
}

complete() {
  [ -f "$D/state" ] || return 1
  # shellcheck disable=SC1091
  . "$D/state"
  [ "${STAMP:-}" = "$(stamp)" ] && [ -f "${KERNEL:-/nonexistent}" ] && [ -f "${INITRD:-/nonexistent}" ] &&
    [ -d "${KMODDIR:-/nonexistent}" ] && command -v qemu-system-x86_64 >/dev/null
}

if [ "${1:-}" = --if-needed ]; then
  complete && exit 0
elif [ $# -gt 0 ]; then
  die "usage: setup.sh [--if-needed]"
fi

exec 9>"$D/.lock"
flock 9
# Another setup may have finished while we waited for the lock.
if [ "${1:-}" = --if-needed ] && complete; then exit 0; fi

# Under the lock no other setup runs: temp dirs of killed ones can go.
rm -rf "$D"/.setup.* "$D"/kernel-*.new
tmp=$(mktemp -d "$D/.setup.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- host packages -----------------------------------------------------------
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
apt_updated=
apt_update() {
  [ -n "$apt_updated" ] && return 0
  say "apt-get update"
  apt-get update -qq >&2 || die "apt-get update failed"
  apt_updated=1
}
missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
  [ "$(id -u)" -eq 0 ] || die "missing packages ${missing[*]}; run setup.sh as root (or apt-get install ${missing[*]})"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$tmp/apt.log" 2>&1; then
    apt_update
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$tmp/apt.log" 2>&1 ||
      {
        tail -n 20 "$tmp/apt.log" >&2
        die "apt-get install ${missing[*]} failed"
      }
  fi
fi
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found after installing qemu-system-x86"
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx insmod || die "/bin/busybox (busybox-static) has no insmod"

# --- kernel ------------------------------------------------------------------
kernel_pkg() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }'
}
# The ELF kernel inside a bzImage: find the compressed payload by its magic
# number and decompress it (what the kernel's scripts/extract-vmlinux does).
extract_vmlinux() {
  local img=$1 out=$2 magic cmd off
  for magic in xz zstd; do
    case $magic in
      xz) off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$img" | head -n1 | cut -d: -f1) cmd=(xz -dc --single-stream) ;;
      zstd) off=$(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$img" | head -n1 | cut -d: -f1) cmd=(zstd -dcq) ;;
    esac
    [ -n "$off" ] && command -v "${cmd[0]}" >/dev/null || continue
    tail -c +$((off + 1)) "$img" >"$tmp/payload"
    if "${cmd[@]}" <"$tmp/payload" >"$out" 2>/dev/null &&
      [ "$(head -c4 "$out" | od -An -c | tr -d ' ')" = '177ELF' ]; then
      rm -f "$tmp/payload"
      return 0
    fi
  done
  rm -f "$out" "$tmp/payload"
  return 1
}

if [ -n "${OXVS_VM_KERNEL_PKG:-}" ]; then
  kpkg=$OXVS_VM_KERNEL_PKG
else
  kpkg=$(kernel_pkg)
  if [ -z "$kpkg" ]; then
    apt_update
    kpkg=$(kernel_pkg)
  fi
  [ -n "$kpkg" ] || die "apt-cache depends linux-image-amd64 names no linux-image-<abi>-amd64"
fi
KVER=${kpkg#linux-image-}
KDIR=$D/kernel-$KVER
if [ ! -f "$KDIR/boot/vmlinuz-$KVER" ] || [ ! -f "$KDIR/lib/modules/$KVER/modules.dep" ]; then
  say "downloading $kpkg"
  mkdir "$tmp/deb"
  # APT::Sandbox::User=root: the private temp dir is not writable by _apt.
  if ! (cd "$tmp/deb" && apt-get download -qq -o APT::Sandbox::User=root "$kpkg") >&2; then
    apt_update
    (cd "$tmp/deb" && apt-get download -qq -o APT::Sandbox::User=root "$kpkg") >&2 ||
      die "apt-get download $kpkg failed"
  fi
  say "extracting $kpkg"
  rm -rf "$KDIR.new"
  dpkg-deb -x "$tmp/deb/"*.deb "$KDIR.new"
  rm -rf "$tmp/deb"
  [ -f "$KDIR.new/boot/vmlinuz-$KVER" ] || die "$kpkg has no boot/vmlinuz-$KVER"
  depmod -b "$KDIR.new" "$KVER"
  rm -rf "$KDIR"
  mv "$KDIR.new" "$KDIR"
fi
# QEMU boots an uncompressed ELF vmlinux directly through its PVH entry point:
# under TCG that halves the boot time (the bzImage spends seconds in real
# mode and decompressing itself). The bzImage stays as a fallback.
if [ ! -f "$KDIR/boot/vmlinux-$KVER" ] && [ ! -f "$KDIR/boot/no-vmlinux" ]; then
  if grep -qx 'CONFIG_PVH=y' "$KDIR/boot/config-$KVER" 2>/dev/null &&
    extract_vmlinux "$KDIR/boot/vmlinuz-$KVER" "$KDIR/boot/vmlinux-$KVER.new"; then
    mv "$KDIR/boot/vmlinux-$KVER.new" "$KDIR/boot/vmlinux-$KVER"
    say "extracted an uncompressed vmlinux for PVH boot"
  else
    say "warning: cannot extract a PVH vmlinux; booting the bzImage (slower)"
    touch "$KDIR/boot/no-vmlinux"
  fi
fi
# Older kernels of previous setups.
for old in "$D"/kernel-*; do
  [ -d "$old" ] && [ "$old" != "$KDIR" ] && rm -rf "$old"
done

# --- initramfs ----------------------------------------------------------------
STAMP=$(stamp)
INITRD=$D/initramfs-$KVER.cpio
old_stamp=
if [ -f "$D/state" ]; then old_stamp=$(. "$D/state" && echo "${STAMP:-}-${KVER:-}"); fi
if [ ! -f "$INITRD" ] || [ "$old_stamp" != "$STAMP-$KVER" ]; then
  say "building the initramfs"
  root=$tmp/initramfs
  mkdir -p "$root"/{bin,sbin,dev,proc,sys,modules,newroot,lower,rw,oxvsrun}
  cp /bin/busybox "$root/bin/busybox"
  for a in $(/bin/busybox --list); do
    [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
  done
  # The kernel runs /sbin/modprobe (module autoloading) relative to the root
  # of the initramfs, not of the chroot the command lives in: hand the
  # request to the real modprobe inside the chroot.
  cat >"$root/sbin/modprobe" <<'EOF'
#!/bin/sh
exec /bin/chroot /newroot /sbin/modprobe "$@"
EOF
  chmod 755 "$root/sbin/modprobe"
  cp "$here/guest-init.sh" "$root/init"
  chmod 755 "$root/init"
  printf 'KVER=%q\nKMODDIR=%q\n' "$KVER" "$KDIR/lib/modules/$KVER" >"$root/oxvs.conf"
  cp "$KDIR/lib/modules/$KVER/modules.devname" "$root/modules.devname"
  # insmod lines in dependency order; "builtin ..." lines need nothing.
  # (-a: without it, modprobe reads the further names as module parameters.)
  modprobe -d "$KDIR" -S "$KVER" -a --show-depends "${INITRD_MODULES[@]}" >"$tmp/deps" ||
    die "modprobe --show-depends ${INITRD_MODULES[*]} failed"
  : >"$root/modules/order"
  while read -r verb path _; do
    [ "$verb" = insmod ] || continue
    name=$(basename "$path")
    grep -qx "${name%.xz}" "$root/modules/order" && continue
    case "$name" in
      *.ko.xz)
        xz -dc "$path" >"$root/modules/${name%.xz}"
        name=${name%.xz}
        ;;
      *.ko) cp "$path" "$root/modules/$name" ;;
      *) die "unexpected module file $path" ;;
    esac
    echo "$name" >>"$root/modules/order"
  done <"$tmp/deps"
  (cd "$root" && find . | LC_ALL=C sort | /bin/busybox cpio -o -H newc >"$tmp/initramfs.cpio" 2>/dev/null) ||
    die "cpio failed"
  mv "$tmp/initramfs.cpio" "$INITRD"
  for old in "$D"/initramfs-*.cpio; do
    [ "$old" != "$INITRD" ] && rm -f "$old"
  done
fi

KERNEL=$KDIR/boot/vmlinux-$KVER
[ -f "$KERNEL" ] || KERNEL=$KDIR/boot/vmlinuz-$KVER
printf 'KVER=%q\nKERNEL=%q\nINITRD=%q\nKMODDIR=%q\nSTAMP=%q\n' \
  "$KVER" "$KERNEL" "$INITRD" "$KDIR/lib/modules/$KVER" "$STAMP" >"$D/state.new"
mv "$D/state.new" "$D/state"
say "ready: kernel $KVER in $D"
