#!/bin/sh
# {"x": int} -> {"out": x * 10 + 1} in plain sh, with a blank line after each answer.
# The request is one JSON object with the single key "x": what follows the colon, less
# the closing brace, is the number.
while IFS= read -r line; do
    x=${line#*:}
    x=${x%\}}
    printf '{"out": %d}\n\n' "$((x * 10 + 1))"
done
