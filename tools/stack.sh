# The local stack's processes, and their certain end (sourced by tools/lib.sh, and by the guard
# below on its own). Whatever way the script that started them ends — Ctrl-C, TERM, a closed
# terminal's HUP, TERM then KILL from a supervisor, or KILL of the script alone — nothing it
# started survives:
# - each service runs in a session of its own (so a terminal's Ctrl-C reaches the script first
#   and it stops things in order), and its process group is written to a state file;
# - cargo lambda watch starts every function process in a session of ITS own, out of reach of
#   its group: those are found by the Runtime API address cargo lambda gave them
#   (AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:<API port>/.rt/<function>);
# - stopping sends TERM, waits STOP_GRACE_SECONDS (default 10), then KILLs what is left;
# - a guard in a session of its own watches the script and stops the stack if the script dies
#   without running its traps (KILL).

STACK_STATE=""
STACK_GUARD_PID=""

# Prints a message naming what holds 127.0.0.1:$1 and fails, unless a server could bind it
# (SO_REUSEADDR, as servers set it: a port left in TIME_WAIT counts as free).
require_free_port() {
    local port="$1" setting="$2"
    if python3 - "$port" <<'PY'
import socket, sys
probe = socket.socket()
probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    probe.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
    then
        return 0
    fi
    printf '==> 127.0.0.1:%s is already in use, so %s cannot start there.\n' "$port" "$setting" >&2
    printf '    What holds it: ss -ltnp "sport = :%s"   (kill that, or set %s to a free port)\n' "$port" "$setting" >&2
    ss -ltnp "sport = :$port" 2>/dev/null | sed 's/^/    /' >&2 || true
    return 1
}

# Starts the stack's bookkeeping: a state file and the guard that watches this script.
stack_begin() {
    mkdir -p "$LOCAL"
    STACK_STATE="$LOCAL/stack-$$.state"
    : > "$STACK_STATE"
    setsid bash -c '
        source "$1"
        while kill -0 "$2" 2>/dev/null; do sleep 0.5; done
        stack_stop_from "$3"' guard "$ROOT/tools/stack.sh" "$$" "$STACK_STATE" \
        > /dev/null 2>&1 < /dev/null &
    STACK_GUARD_PID=$!
}

# Runs "$@" as a service in a session of its own, output to the log $1 ("-": this terminal);
# sets SERVICE_PID.
stack_service() {
    local log="$1"
    shift
    if [ "$log" = "-" ]; then
        setsid "$@" < /dev/null &
    else
        setsid "$@" > "$log" 2>&1 < /dev/null &
    fi
    SERVICE_PID=$!
    echo "group $SERVICE_PID" >> "$STACK_STATE"
}

# Succeeds if what listens on 127.0.0.1:$1 is in the process group $2: the port answering is
# not enough, an earlier stack may answer there.
listener_in_group() {
    local pid
    for pid in $(ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2); do
        [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$2" ] && return 0
    done
    return 1
}

# Records that the function processes with this Runtime API port belong to the stack.
stack_functions_on() {
    echo "port $1" >> "$STACK_STATE"
}

# Stops one service of the stack now: the process group $1 and, if $2 is given, the function
# processes of the Runtime API on port $2 (a restart of the API in another mode).
stack_stop_service() {
    local one
    one="$(mktemp "$LOCAL/stack-one-XXXXXX")"
    echo "group $1" > "$one"
    [ -n "${2:-}" ] && echo "port $2" >> "$one"
    stack_stop_from "$one"
}

# Stops everything this script started, and the guard. Meant for the EXIT trap.
stack_end() {
    if [ -n "$STACK_GUARD_PID" ]; then
        kill -KILL "$STACK_GUARD_PID" 2>/dev/null || true
        wait "$STACK_GUARD_PID" 2>/dev/null || true # reaped here, so bash reports no "Killed"
    fi
    [ -n "$STACK_STATE" ] && stack_stop_from "$STACK_STATE"
    return 0
}

# The pids of the function processes cargo lambda started for the Runtime API on port $1.
function_pids() {
    grep -lzs "^AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:$1/" /proc/[0-9]*/environ 2>/dev/null |
        cut -d/ -f3
}

# The stack of a state file: its process groups (as -PGID) and function pids, those still alive.
stack_members() {
    local kind value pid
    local - # errexit off here: a member may end between two looks, which is no error
    set +e
    while read -r kind value; do
        case "$kind" in
            group) kill -0 -- "-$value" 2>/dev/null && echo "-$value" ;;
            port) for pid in $(function_pids "$value"); do echo "$pid"; done ;;
        esac
    done < "$1"
    return 0
}

# TERM to every member, a bounded wait, then KILL; the state file goes last.
stack_stop_from() {
    local state="$1" members grace="${STOP_GRACE_SECONDS:-10}" i
    local - # errexit off: this runs in EXIT traps, and a member that ended first is no error
    set +e
    [ -f "$state" ] || return 0
    members="$(stack_members "$state")"
    if [ -n "$members" ]; then
        # shellcheck disable=SC2086 # one word a member
        kill -TERM -- $members 2>/dev/null
        for ((i = 0; i < grace * 10; i++)); do
            members="$(stack_members "$state")"
            [ -z "$members" ] && break
            sleep 0.1
        done
        # shellcheck disable=SC2086
        [ -n "$members" ] && kill -KILL -- $members 2>/dev/null
    fi
    rm -f "$state"
    return 0
}
