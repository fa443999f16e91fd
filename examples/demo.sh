#!/usr/bin/env bash
# The built-in example behind `make demo`: three small layers (bottom first) with a deleted file,
# an opaque directory, a file replaced by a directory and a name re-created above its whiteout,
# in AUFS whiteout format, assembled with every backend, shown, and destroyed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
OVLBACKEND=${OVLBACKEND:-$here/../ovlbackend}
DEMO=${OVLBACKEND_DEMO_DIR:-$(mktemp -d /var/tmp/ovlbackend-demo.XXXXXX)}
export OVLBACKEND_WORK_DIR=$DEMO/work
trap 'rm -rf "$DEMO"' EXIT
. "$here/../tests/lib/fixtures.sh"

if [ "$(id -u)" != 0 ]; then
        echo "demo: run as root (the layers hold device nodes and owners)" >&2
        exit 77
fi
mkdir -p "$DEMO"
make_fixture "$DEMO/image" aufs
echo "== layers (bottom first): $DEMO/image/l0 l1 l2"
echo "   l1 deletes del/me and recreate, makes optdir opaque, turns replace_dir into a file;"
echo "   l2 re-creates 'recreate' and edits etc/hostname"
for backend in $("$OVLBACKEND" assemble --help | sed -n '/^Backends:/,/^$/p' | awk 'NR>1 && NF {print $1}'); do
        rootfs=$DEMO/rootfs-$backend
        echo
        echo "== ovlbackend assemble --backend=$backend"
        case $backend in
        bind) "$OVLBACKEND" assemble --backend=bind --rootfs="$rootfs" "$DEMO/image/l0" ;;
        *) "$OVLBACKEND" assemble --backend="$backend" --rootfs="$rootfs" "$DEMO/image"/l{0,1,2} ;;
        esac
        (cd "$rootfs" && find . -maxdepth 2 | sort | sed 's/^/   /' | head -40)
        for f in recreate etc/hostname etc/passwd; do
                [ -f "$rootfs/$f" ] && printf '   %-14s %s\n' "$f:" "$(cat "$rootfs/$f")"
        done
        "$OVLBACKEND" list
        "$OVLBACKEND" destroy "$rootfs"
done
