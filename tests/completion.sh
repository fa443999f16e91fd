#!/usr/bin/env bash
# The bash completion offers the commands, each command's options and the backends.
. "${OVL_TESTS_SRCDIR:-$(dirname "$0")}/lib/common.sh"
COMPLETION=$OVL_TESTS_SRCDIR/../completion/ovlbackend
bash -n "$COMPLETION" || fail "completion/ovlbackend has syntax errors"
complete_words() {
        bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _ovlbackend; printf "%s\n" "${COMPREPLY[@]}"' \
                _ "$COMPLETION" "$@" | sort | paste -sd' '
}
[ "$(complete_words ovlbackend "")" = "$(printf '%s\n' assemble destroy list gc probe who --work-dir= --verbose --quiet \
        --help --no-sandbox --seccomp-deny= --version | sort | paste -sd' ')" ] || fail "commands: $(complete_words ovlbackend "")"
[ "$(complete_words ovlbackend assemble --backend=)" = "bind copy overlay" ] || fail "backends: $(complete_words ovlbackend assemble --backend=)"
assert_contains "$(complete_words ovlbackend assemble --)" "--layers-from="
assert_contains "$(complete_words ovlbackend assemble --)" "--no-flatten"
[ "$(complete_words ovlbackend destroy --j)" = "--json" ] || fail "destroy options: $(complete_words ovlbackend destroy --j)"
[ "$(complete_words ovlbackend who --j)" = "--json" ] || fail "who options: $(complete_words ovlbackend who --j)"
[ "$(complete_words ovlbackend --seccomp-deny=k)" = "kill" ] || fail "seccomp-deny values"
# Every option the completion offers for assemble is one assemble --help documents.
for opt in $(complete_words ovlbackend assemble --); do
        "$OVLBACKEND" assemble --help | grep -q -- "${opt%=}" || fail "completion offers $opt, which assemble --help does not know"
done
echo "PASS: bash completion"
