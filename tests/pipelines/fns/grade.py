"""{"score": int} -> {"grade": str}; a score of 13 is refused (an `$error` answer)."""
import json
import sys

for line in sys.stdin:
    score = json.loads(line)["score"]
    if score == 13:
        answer = {"$error": "unlucky score"}
    else:
        answer = {"grade": "pass" if score >= 70 else "low"}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
