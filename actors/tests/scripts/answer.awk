# {"x": int} -> {"out": x * 10 + 1} in awk. Correct, but awk block-buffers stdout on a
# pipe (mawk even reads its input in blocks), so no answer leaves before end of input.
{
    x = $0
    sub(/^[^:]*:[ ]*/, "", x)
    sub(/[ ]*}.*$/, "", x)
    print "{\"out\": " (x * 10 + 1) "}"
}
