#!/bin/sh
# Lists functions longer than a limit (default 80 lines, counted from the
# line that opens the body to its closing brace) in the C files given or
# under the folders given: `scripts/long-functions.sh 80 src/study src/cli`.
# Functions are found by their layout in this tree: a definition starts at
# column 0 and its body ends with a "}" at column 0.
limit=${1:-80}
shift
find "$@" -name '*.c' | sort | while read -r f; do
    awk -v limit="$limit" -v file="$f" '
        /^[A-Za-z_].*\(/ && !/;[ \t]*$/ { name = $0; start = FNR }
        /^\{/ && start { open = FNR }
        /^}/ && open {
            n = FNR - open + 1
            if (n > limit) { sub(/\(.*/, "", name); printf "%s:%d: %s: %d lines\n", file, start, name, n }
            open = 0; start = 0
        }' "$f"
done
