#!/usr/bin/env bash
# How a containerizer drives ovlbackend, in one short script:
#   start-up    `gc --json`: clear what a crash of an earlier run left (it never touches a live rootfs)
#   choose      `probe --json`: the backend this host runs best (unless --backend is given)
#   provision   `assemble --json`: the rootfs and what ovlbackend made for it; exit 3 (not supported
#               here) falls back to the copy backend, exit 2 (bad input) is not worth a retry
#   run         the container (a real containerizer hands ROOTFS to a runtime such as runc)
#   tear down   `destroy --json`
#
# Usage: containerizer.sh [--backend=B] [--run=CMD] ID LAYER...   (layers bottom first)
#   The rootfs is $CONTAINERS_DIR/ID/rootfs (default CONTAINERS_DIR=/var/tmp/containers); CMD runs
#   with ROOTFS set (default: list the rootfs).
set -euo pipefail
OVLBACKEND=${OVLBACKEND:-ovlbackend}
CONTAINERS_DIR=${CONTAINERS_DIR:-/var/tmp/containers}
backend= run='ls -A "$ROOTFS"'
while [ $# -gt 0 ]; do
        case $1 in
        --backend=*) backend=${1#--backend=} ;;
        --run=*) run=${1#--run=} ;;
        *) break ;;
        esac
        shift
done
[ $# -ge 2 ] || { echo "usage: $0 [--backend=B] [--run=CMD] ID LAYER..." >&2; exit 2; }
id=$1
shift

# json FIELD: one field of the JSON object on stdin.
json() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

removed=$("$OVLBACKEND" -q gc --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["removed"]))')
echo "start-up: gc removed $removed leftover(s)"

if [ -z "$backend" ]; then
        backend=$("$OVLBACKEND" -q probe --json | json recommended_backend)
        echo "probe recommends: $backend"
fi

ROOTFS=$CONTAINERS_DIR/$id/rootfs
mkdir -p "$CONTAINERS_DIR/$id"
rc=0
result=$("$OVLBACKEND" -q assemble --json --backend="$backend" --rootfs="$ROOTFS" "$@") || rc=$?
if [ "$rc" = 3 ] && [ "$backend" != copy ]; then
        echo "$backend is not supported here: falling back to copy"
        backend=copy rc=0
        result=$("$OVLBACKEND" -q assemble --json --backend=copy --rootfs="$ROOTFS" "$@") || rc=$?
fi
if [ "$rc" != 0 ]; then
        echo "assemble failed (exit $rc): $([ "$rc" = 2 ] && echo 'bad input, not retried' || echo 'failure')" >&2
        exit "$rc"
fi
echo "provisioned $(json rootfs <<<"$result") with $(json backend <<<"$result") ($(json layers <<<"$result") layers)"

export ROOTFS
status=0
bash -c "$run" || status=$?
echo "container exited with $status"

"$OVLBACKEND" -q destroy --json "$ROOTFS" | json destroyed >/dev/null
rmdir "$CONTAINERS_DIR/$id" 2>/dev/null || true
echo "torn down $ROOTFS"
exit "$status"
