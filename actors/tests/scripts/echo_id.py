"""protocol jsonl-id: {"$id": str, "x": int} -> {"$id": the same id, "out": x * 10 + 1}.
With `wrong-id-when-x-mod-5` (argv[1]) the answer of a packet whose x is a multiple of
5 carries a wrong id (the right answer otherwise)."""
import json
import sys

wrong = sys.argv[1:] == ["wrong-id-when-x-mod-5"]
for line in sys.stdin:
    packet = json.loads(line)
    packet_id = packet["$id"]
    x = packet["x"]
    if wrong and x % 5 == 0:
        packet_id = packet_id + "-wrong"
    print(json.dumps({"$id": packet_id, "out": x * 10 + 1}), flush=True)
