#!/usr/bin/env bash
# The Debian package (debian/): dpkg-buildpackage builds it from a copy of the source tree, running
# the unit tests and never making the test build; lintian finds no error in it; dpkg installs it
# into a Debian tree (the debootstrap tree of tests/lib/debian-fixture.sh, under an overlay), which
# then has ovlbackend in /usr/sbin, its man page and completion, and the work dir /var/lib/ovlbackend
# made 0700 by the postinst; `ovlbackend probe` runs there; purge removes the work dir only when
# nothing but the probe's cache is left in it.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
require_root
require_cmd dpkg-buildpackage dpkg-parsechangelog dh lintian chroot findmnt tar debootstrap
enter_private_mountns "$@"
. "$OVL_TESTS_SRCDIR/lib/debian-fixture.sh"

SRC=$(cd "$OVL_TESTS_SRCDIR/.." && pwd)
VERSION=$(sed -n 's/^AC_INIT(\[ovlbackend\], \[\([^]]*\)\].*/\1/p' "$SRC/configure.ac")
[ -n "$VERSION" ] || fail "no version in $SRC/configure.ac"
# A native package: its version is the project's, so each release needs a changelog entry.
deb_version=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
[ "$deb_version" = "$VERSION" ] ||
        fail "debian/changelog is at $deb_version but configure.ac at $VERSION: add a changelog entry"

# The Debian tree the package is installed into, made first if need be (so a skip comes early).
debian_base_tree_or_skip

# A writable copy of the sources without build outputs: in a git checkout what git tracks or would
# track (an in-tree build's outputs are ignored, .gitignore); else an unpacked tarball, read-only
# under `make distcheck`, whose build is in _build and _inst.
B=$TEST_TMP/build
mkdir -p "$B/src"
if [ -e "$SRC/.git" ]; then
        require_cmd git
        git -c safe.directory="$SRC" -C "$SRC" ls-files -z --cached --others --exclude-standard |
                tar -C "$SRC" --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$B/src" -xf -
else
        tar -C "$SRC" --exclude=./_build --exclude=./_inst -cf - . | tar -C "$B/src" -xf -
fi
chmod -R u+w "$B/src"
[ -x "$B/src/debian/rules" ] || fail "the copy of $SRC has no executable debian/rules"

# In a clean environment, as on a build machine: none of the `make check` running this test (its
# jobserver and command-line variables such as TESTS=... would reach the package's own make) nor of
# the tests (OVLBACKEND_WORK_DIR, ASAN_OPTIONS).
start=$SECONDS
(cd "$B/src" && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$B" LC_ALL=C.UTF-8 \
        DEB_BUILD_OPTIONS="parallel=$(nproc)" dpkg-buildpackage -us -uc -b) >"$B/build.log" 2>&1 ||
        { tail -n 40 "$B/build.log" >&2; fail "dpkg-buildpackage failed (the end of its log above)"; }
echo "package: dpkg-buildpackage took $((SECONDS - start)) s"
DEB=$B/ovlbackend_${VERSION}_$(dpkg --print-architecture).deb
[ -f "$DEB" ] || fail "no $(basename "$DEB"); the build made: $(ls "$B")"
# The unit tests ran, no integration test did, and the test build (live test switches) was not
# even built.
grep -q '^PASS: tests/unit/test_' "$B/build.log" || fail "the package build ran no unit test"
! grep -qE '^[A-Z]+: tests/[^/]+\.sh' "$B/build.log" || fail "the package build ran integration tests"
assert_absent "$B/src/tests/ovlbackend-hooked"

start=$SECONDS
lint=$(lintian --fail-on error "$B"/ovlbackend_"${VERSION}"_*.changes 2>&1) ||
        fail "lintian failed: $lint"
lint=$(printf '%s\n' "$lint" | grep -v '^running with root privileges is not recommended' || true)
echo "package: lintian ($((SECONDS - start)) s): ${lint:-no tags}"

# A Debian tree to install into: the cached one as a read-only lower layer, or a copy of it where
# overlayfs cannot be used here. Its /proc and /sys are for the probe.
R=$TEST_TMP/root
mkdir -p "$R" "$TEST_TMP/upper" "$TEST_TMP/ovl-work"
if ! { has_overlayfs && mount -t overlay ovlbackend-package-test \
        -o "lowerdir=$DEBIAN_BASE_TREE,upperdir=$TEST_TMP/upper,workdir=$TEST_TMP/ovl-work" "$R"; }; then
        echo "package: no overlay mount here, copying the Debian tree"
        cp -a "$DEBIAN_BASE_TREE/." "$R/"
fi
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
cp "$DEB" "$R/tmp/ovlbackend.deb"
# Commands in the tree, with none of this test's environment (OVLBACKEND_WORK_DIR above all).
in_root() {
        chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 "$@"
}
in_root dpkg -i /tmp/ovlbackend.deb >"$TEST_TMP/dpkg.log" 2>&1 || fail "dpkg -i failed: $(cat "$TEST_TMP/dpkg.log")"

W=$R/var/lib/ovlbackend
[ "$(stat -c '%F %a' "$R/usr/sbin/ovlbackend" 2>&1)" = "regular file 755" ] ||
        fail "/usr/sbin/ovlbackend: $(stat -c '%F %a' "$R/usr/sbin/ovlbackend" 2>&1)"
[ -f "$R/usr/share/man/man8/ovlbackend.8.gz" ] || fail "no man page /usr/share/man/man8/ovlbackend.8.gz"
[ -f "$R/usr/share/bash-completion/completions/ovlbackend" ] || fail "no bash completion"
[ "$(stat -c '%F %a %u:%g' "$W")" = "directory 700 0:0" ] ||
        fail "the work dir is $(stat -c '%F %a %u:%g' "$W"), expected a directory 700 0:0"
listed=$(in_root dpkg -L ovlbackend)
assert_contains "$listed" /usr/sbin/ovlbackend
case $listed in *ovlbackend-hooked*) fail "the package holds the test build: $listed" ;; esac
[ "$(in_root ovlbackend --version)" = "ovlbackend $VERSION" ] || fail "ovlbackend --version: $(in_root ovlbackend --version)"
out=$(in_root ovlbackend probe 2>&1) || fail "ovlbackend probe in the Debian tree failed: $out"
assert_contains "$out" recommended
echo "package: in the Debian tree, $(printf '%s\n' "$out" | grep '^recommended')"

# Remove keeps the work dir; purge keeps what is not the probe's cache, then removes the empty dir.
in_root dpkg -r ovlbackend >"$TEST_TMP/dpkg.log" 2>&1 || fail "dpkg -r failed: $(cat "$TEST_TMP/dpkg.log")"
[ -d "$W" ] || fail "dpkg -r removed the work dir"
mkdir -p "$W/rootfs/0123" "$W/probe"
echo record >"$W/rootfs/0123/record"
echo cache >"$W/probe/overlay-0123"
in_root dpkg --purge ovlbackend >"$TEST_TMP/dpkg.log" 2>&1 || fail "dpkg --purge failed: $(cat "$TEST_TMP/dpkg.log")"
assert_contains "$(cat "$TEST_TMP/dpkg.log")" "/var/lib/ovlbackend is not empty, so it was kept"
assert_file_content "$W/rootfs/0123/record" record
assert_absent "$W/probe"
rm -r "$W/rootfs/0123"
in_root dpkg -i /tmp/ovlbackend.deb >"$TEST_TMP/dpkg.log" 2>&1 || fail "dpkg -i failed: $(cat "$TEST_TMP/dpkg.log")"
in_root dpkg --purge ovlbackend >"$TEST_TMP/dpkg.log" 2>&1 || fail "dpkg --purge failed: $(cat "$TEST_TMP/dpkg.log")"
assert_absent "$W"
echo "package: installed, probed, removed and purged"
