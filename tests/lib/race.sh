# Shared by the race tests: a racer (tests/race-swap, run as user nobody) that exchanges two paths
# until stopped, started without sleeps and always stopped. Needs RACER (the binary), NOBODY and
# TEST_TMP; sets the EXIT trap (racer first, then the scratch).
RACER_PID=
stop_racer() {
        [ -n "$RACER_PID" ] || return 0
        kill -TERM "$RACER_PID" 2>/dev/null || true
        wait "$RACER_PID" 2>/dev/null || true
        RACER_PID=
}
trap 'stop_racer; cleanup_test_tmp' EXIT

# start_racer A B: user nobody exchanges A and B until stop_racer; returns once it runs.
start_racer() {
        local line=
        rm -f "$TEST_TMP/racer.fifo"
        mkfifo -m 0600 "$TEST_TMP/racer.fifo"
        # exec all the way down (setpriv, env, the racer): $! is the racer itself, for stop_racer.
        (exec setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups -- env -- "$RACER" 30 "$1" "$2") \
                >"$TEST_TMP/racer.fifo" 2>"$TEST_TMP/racer.log" &
        RACER_PID=$!
        read -r -t 10 line <"$TEST_TMP/racer.fifo" || true
        [ "$line" = ready ] || fail "the racer did not start: $(cat "$TEST_TMP/racer.log")"
}

# racer_exchanges: how many exchanges the racer that just stopped made.
racer_exchanges() {
        sed -n 's/^race-swap: \([0-9]*\) exchanges.*/\1/p' "$TEST_TMP/racer.log" | tail -n 1 | grep . ||
                fail "the racer did not report: $(cat "$TEST_TMP/racer.log")"
}
