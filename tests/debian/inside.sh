#!/bin/bash
# The steps of the Debian end-to-end test, run as root inside a fresh Debian trixie chroot by
# tests/debian/e2e, with the package at $DEB. Each step prints its start time; any failed
# check stops the test with "FAIL: ...".
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
t0=$SECONDS
step() { echo; echo "=== [$((SECONDS - t0)) s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "    $*"; }
apt_install() {
    apt-get install -y -q --no-install-recommends "$@" >/tmp/apt.log 2>&1 ||
        { tail -n 60 /tmp/apt.log; fail "apt-get install $*"; }
}
apt_purge() {
    apt-get purge -y -q "$@" >/tmp/apt.log 2>&1 || { tail -n 60 /tmp/apt.log; fail "apt-get purge $*"; }
}
# The eleven index files depmod writes.
INDEXES="modules.dep modules.dep.bin modules.alias modules.alias.bin modules.softdep
modules.weakdep modules.symbols modules.symbols.bin modules.builtin.bin
modules.builtin.alias.bin modules.devname"
# Run a command with kmod's depmod as /usr/sbin/depmod, then put ours back.
with_kmod() {
    mv /usr/sbin/depmod /usr/sbin/depmod.ours
    ln -s ../bin/kmod /usr/sbin/depmod
    local status=0
    "$@" || status=$?
    rm /usr/sbin/depmod
    mv /usr/sbin/depmod.ours /usr/sbin/depmod
    return $status
}
# Milliseconds of wall time of a command, its output discarded.
ms() {
    local a b
    a=$(date +%s%N)
    "$@" >/dev/null 2>&1
    b=$(date +%s%N)
    echo $(((b - a) / 1000000))
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# The modules.dep names of a kernel and its built-in modules, one per line.
module_names() {
    local dir=/lib/modules/$1
    {
        sed 's/:.*//; s#.*/##; s/\.ko.*//' "$dir/modules.dep"
        sed 's#.*/##; s/\.ko$//' "$dir/modules.builtin"
    } | LC_ALL=C sort -u
}
# `modprobe --show-depends` for each name on stdin, with its exit status.
show_depends() {
    local v=$1 name
    while read -r name; do
        echo "## $name"
        modprobe -S "$v" --show-depends "$name" 2>&1 || echo "exit $?"
    done
}
# Unpack an initramfs-tools image into a directory.
unpack_initramfs() { rm -rf "$2"; unmkinitramfs "$1" "$2"; }
# What an unpacked image holds: each path with its type, and the bytes (digest) of a file or
# the target of a link. Paths given after the directory are left out.
manifest() {
    local top=$1 path
    shift
    (cd "$top" && find . -mindepth 1 | LC_ALL=C sort) | while read -r path; do
        for skip in "$@"; do [ "$path" = "./$skip" ] && continue 2; done
        if [ -L "$top/$path" ]; then echo "$path -> $(readlink "$top/$path")"
        elif [ -f "$top/$path" ]; then echo "$path $(sha256sum <"$top/$path" | cut -c1-64)"
        else echo "$path $(stat -c %F "$top/$path")"; fi
    done
}
# Compare two unpacked images (kmod's first), but for the paths given after them.
same_tree() {
    local a=$1 b=$2 what=$3
    shift 3
    manifest "$a" "$@" >/tmp/manifest.a
    manifest "$b" "$@" >/tmp/manifest.b
    diff -u /tmp/manifest.a /tmp/manifest.b >&2 || fail "$what: the images differ"
}

step "1. install the package"
apt-get update -q >/dev/null
apt_install "$DEB"
dpkg-divert --list /usr/sbin/depmod | grep -qx 'diversion of /usr/sbin/depmod to /usr/libexec/depmod by depmod-rs' ||
    fail "no diversion of /usr/sbin/depmod: $(dpkg-divert --list /usr/sbin/depmod)"
kmod_link=$(readlink /usr/libexec/depmod)
[ "$kmod_link" = ../bin/kmod ] || fail "kmod's depmod diverted as a link to $kmod_link"
dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./usr/sbin/depmod | cmp - /usr/sbin/depmod ||
    fail "/usr/sbin/depmod is not the package's binary"
depmod -V | grep -q '^depmod-rs ' || fail "depmod -V: $(depmod -V)"
for kmod_depmod in /usr/libexec/depmod "exec -a depmod /usr/bin/kmod"; do
    out=$(bash -c "$kmod_depmod -V")
    case $out in "kmod version 34"*depmod-rs*) fail "$kmod_depmod -V is ours" ;;
    "kmod version 34"*) ;;
    *) fail "$kmod_depmod -V: $out" ;; esac
done
[ -e /usr/share/man/man8/depmod.kmod.8.gz ] || fail "kmod's depmod(8) was not kept"
dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./usr/share/man/man8/depmod.8.gz | cmp -s - /usr/share/man/man8/depmod.8.gz ||
    fail "depmod(8) is not ours"
note "/usr/sbin/depmod is depmod-rs; kmod's is /usr/libexec/depmod -> $kmod_link"

step "2. install linux-image-cloud-amd64 (its postinst runs depmod, then update-initramfs)"
a=$SECONDS
apt_install linux-image-cloud-amd64
note "apt-get install took $((SECONDS - a)) s"
V=$(cd /lib/modules && ls)
[ "$(echo "$V" | wc -l)" = 1 ] || fail "expected one kernel, found: $V"
dir=/lib/modules/$V
note "kernel $V, $(find "$dir/kernel" -name '*.ko*' | wc -l) modules"
[ -s "$dir/modules.scan-cache" ] || fail "no scan cache in $dir (the running system's default)"
reused=$(depmod -n -vv "$V" 2>&1 >/dev/null | grep 'cache: reused' || true)
note "the postinst's depmod left a cache of $(stat -c %s "$dir/modules.scan-cache") bytes; a rerun: ${reused#*INFO: }"
case $reused in *"reused 0 of"*|"") fail "the cache written by the postinst serves nothing: $reused" ;; esac
/usr/libexec/depmod -o /tmp/kmod "$V"
for f in $INDEXES; do
    cmp "$dir/$f" "/tmp/kmod/lib/modules/$V/$f" || fail "$f differs from kmod's"
done
note "all 11 indexes byte-identical to kmod's depmod -o /tmp/kmod $V"
[ -f "/boot/initrd.img-$V" ] || fail "update-initramfs made no initrd"
lsinitramfs "/boot/initrd.img-$V" | LC_ALL=C sort >/tmp/initrd.ours.list
with_kmod sh -c "depmod '$V' && mkinitramfs -o /tmp/initrd.kmod '$V'" >/dev/null 2>&1 ||
    fail "mkinitramfs with kmod's depmod"
lsinitramfs /tmp/initrd.kmod | LC_ALL=C sort >/tmp/initrd.kmod.list
diff -u /tmp/initrd.kmod.list /tmp/initrd.ours.list >&2 ||
    fail "the initrd of the kernel's postinst lists other files than one built with kmod's depmod"
unpack_initramfs "/boot/initrd.img-$V" /tmp/u.ours
unpack_initramfs /tmp/initrd.kmod /tmp/u.kmod
same_tree /tmp/u.kmod /tmp/u.ours "initramfs-tools"
note "initramfs-tools: $(wc -l </tmp/initrd.ours.list) files ($(grep -c '\.ko' /tmp/initrd.ours.list) modules), same list and bytes as with kmod's depmod"
depmod "$V"

step "3. modprobe --show-depends for every module, our indexes against kmod's"
module_names "$V" >/tmp/names
show_depends "$V" </tmp/names >/tmp/show.ours
cp "$dir/modules.scan-cache" /tmp/cache.keep
for f in $INDEXES; do cp "/tmp/kmod/lib/modules/$V/$f" "$dir/$f"; done
show_depends "$V" </tmp/names >/tmp/show.kmod
depmod "$V"
cmp -s /tmp/cache.keep "$dir/modules.scan-cache" || fail "a rerun on an unchanged tree rewrote the cache"
diff -u /tmp/show.kmod /tmp/show.ours >&2 || fail "modprobe --show-depends answers differ"
grep -q '^insmod ' /tmp/show.ours || fail "modprobe --show-depends printed no insmod line"
note "$(wc -l </tmp/names) names, $(grep -c '^insmod ' /tmp/show.ours) insmod lines, identical"

step "4. dracut as the initramfs generator"
a=$SECONDS
apt_install dracut systemd-sysv
note "apt-get install dracut took $((SECONDS - a)) s (its postinst regenerated the initrd)"
grep -q 'dracut: Generating /boot/initrd.img-' /tmp/apt.log || fail "dracut did not regenerate the initrd"
lsinitrd "/boot/initrd.img-$V" >/dev/null || fail "dracut's initrd does not read back"
dracut -q --force /tmp/dracut.ours "$V" 2>/dev/null
with_kmod sh -c "depmod '$V' && dracut -q --force /tmp/dracut.kmod '$V'" 2>/dev/null ||
    fail "dracut with kmod's depmod"
depmod "$V"
rm -rf /tmp/d.ours /tmp/d.kmod
mkdir /tmp/d.ours /tmp/d.kmod
(cd /tmp/d.ours && lsinitrd --unpack /tmp/dracut.ours)
(cd /tmp/d.kmod && lsinitrd --unpack /tmp/dracut.kmod)
# dracut copies depmod itself into the image: there it is ours, or kmod's link to kmod.
[ -L /tmp/d.kmod/usr/sbin/depmod ] && cmp -s /usr/sbin/depmod /tmp/d.ours/usr/sbin/depmod ||
    fail "dracut's images do not hold the depmod they were made with"
same_tree /tmp/d.kmod /tmp/d.ours "dracut" usr/sbin/depmod
note "dracut: $(find /tmp/d.ours | wc -l) files ($(find /tmp/d.ours -name '*.ko*' | wc -l) modules), same list and bytes as with kmod's depmod (but for the depmod program dracut copies in)"

step "5. a DKMS module (iptables-netflow-dkms) with the kernel's headers"
cache_before=$(stat -c %Y.%s "$dir/modules.scan-cache")
records_before=$(depmod -n -vv "$V" 2>&1 >/dev/null | sed -n 's/.*cache: reused \([0-9]*\) of \([0-9]*\) modules (\([0-9]*\) records).*/\3/p')
a=$SECONDS
apt_install linux-headers-cloud-amd64 iptables-netflow-dkms
note "apt-get install (headers, gcc, build) took $((SECONDS - a)) s"
grep -q 'Running depmod' /tmp/apt.log || { tail -n 40 /tmp/apt.log; fail "DKMS did not run depmod"; }
line=$(grep '^updates/dkms/ipt_NETFLOW\.ko' "$dir/modules.dep") || fail "the DKMS module is not in modules.dep"
note "modules.dep: $line"
case $line in *kernel/net/netfilter/x_tables.ko*) ;; *) fail "ipt_NETFLOW without its dependency on x_tables" ;; esac
modprobe -S "$V" --show-depends ipt_NETFLOW >/tmp/show.dkms
grep -q '^insmod .*/x_tables\.ko' /tmp/show.dkms && grep -q '^insmod .*/updates/dkms/ipt_NETFLOW\.ko' /tmp/show.dkms ||
    fail "modprobe --show-depends ipt_NETFLOW: $(cat /tmp/show.dkms)"
note "modprobe --show-depends ipt_NETFLOW: $(tr '\n' ' ' </tmp/show.dkms)"
# The cache held a record of every module before; DKMS's depmod read it, added the new
# module and wrote it back (a cache is only rewritten when a record changes).
[ "$(stat -c %Y.%s "$dir/modules.scan-cache")" != "$cache_before" ] || fail "DKMS's depmod did not update the cache"
after=$(depmod -n -vv "$V" 2>&1 >/dev/null | grep 'cache: reused')
note "cache: $records_before records before the DKMS build; a rerun after it: ${after#*INFO: }"
modules=$(sed -n 's/.*reused \([0-9]*\) of \([0-9]*\) modules (\([0-9]*\) records).*/\2 \3/p' <<<"$after")
[ "${modules% *}" = "$((records_before + 1))" ] && [ "${modules#* }" = "${modules% *}" ] ||
    fail "the cache does not hold every module after DKMS's run: $after"
# The same work as DKMS's rerun (one module new since the last run): ours with the cache, and
# kmod's, each five times.
netflow=$(find "$dir/updates/dkms" -name 'ipt_NETFLOW.ko*')
ours=() theirs=()
for _ in 1 2 3 4 5; do
    touch "$netflow"; sleep 0.05
    ours+=("$(ms depmod -a "$V" -F "/boot/System.map-$V")")
    touch "$netflow"; sleep 0.05
    theirs+=("$(ms /usr/libexec/depmod -a "$V" -F "/boot/System.map-$V")")
done
depmod "$V"
o=$(printf '%s\n' "${ours[@]}" | median)
k=$(printf '%s\n' "${theirs[@]}" | median)
note "DKMS's rerun (depmod -a $V -F System.map, one module changed): ours ${o} ms with the cache, kmod's ${k} ms (medians of 5; ours: ${ours[*]}; kmod: ${theirs[*]})"

step "6. purge the kernel, then the package"
apt_purge linux-image-cloud-amd64 "linux-image-$V" linux-headers-cloud-amd64 "linux-headers-$V"
[ ! -e "$dir" ] || fail "$dir is left after purging the kernel: $(ls -A "$dir")"
note "$dir is gone"
apt_purge depmod-rs
if dpkg-divert --list | grep -q depmod-rs; then fail "diversions left: $(dpkg-divert --list | grep depmod-rs)"; fi
link=$(readlink /usr/sbin/depmod) || fail "/usr/sbin/depmod is not a link"
[ "$link" = "$kmod_link" ] || fail "/usr/sbin/depmod -> $link, kmod shipped -> $kmod_link"
[ ! -e /usr/libexec/depmod ] || fail "/usr/libexec/depmod is left"
out=$(depmod -V)
case $out in "kmod version 34"*depmod-rs*) fail "depmod -V still ours" ;; "kmod version 34"*) ;;
*) fail "depmod -V after the purge: $out" ;; esac
zcat /usr/share/man/man8/depmod.8.gz | grep -q 'explain' && fail "depmod(8) is still ours"
[ ! -e /usr/share/man/man8/depmod.kmod.8.gz ] || fail "depmod.kmod.8.gz is left"
[ ! -e /etc/kernel/postrm.d/depmod-rs-cache ] || fail "the kernel hook is left after the purge"
note "/usr/sbin/depmod -> $link again, depmod -V: $(echo "$out" | head -n1)"

step "passed"
