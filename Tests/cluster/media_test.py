#!/usr/bin/env python3
"""Media across two nodes (issue 14), run by scripts/cluster-media-test.sh inside a network
namespace: node A owns the room; alice joins through A and bob through B (relayed to A). Each
publishes and subscribes to the other, and decodes the other's video; the room's VideoRoom
lives on A's Janus and not on B's, so a room is never split across two SFUs.

Usage: media_test.py BASE_A BASE_B DATA_A DATA_B
Exits 0 when every check passes; prints each failed check and exits 1 otherwise.
"""
import asyncio
import json
import os
import sys
import time
import urllib.request

import jwt

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "media"))
import rtc  # noqa: E402  (Tests/media/rtc.py)

BASE_A, BASE_B, DATA_A, DATA_B = sys.argv[1:5]
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def http(base, method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers={"Authorization": token, "Content-Type": "application/json"},
                                     method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


async def listed(data, room):
    """The room's VideoRoom in the Janus under `data`, or None."""
    async with rtc.Janus(data) as janus:
        return await janus.room(room)


async def main():
    made = http(BASE_A, "POST", "/admin/v1/api-keys", "Bearer " + os.environ["ADMIT_ADMIN_TOKEN"], {"name": "cluster-media"})
    now = int(time.time())
    token = jwt.encode({"apikey": made["apiKey"], "permissions": ["allow_join", "allow_mod"], "iat": now, "exp": now + 600},
                       made["secret"], algorithm="HS256")
    await asyncio.sleep(0.5)  # B learns of the key
    room = http(BASE_A, "POST", "/v2/rooms", token, {})["roomId"]

    alice = await rtc.Participant.connect(BASE_A.replace("http", "ws", 1), room, "alice", token, micEnabled="true", webcamEnabled="true")
    joined = await alice.event("meeting-joined")
    check(joined.get("media", {}).get("available") is True, "alice on A: media available")
    bob = await rtc.Participant.connect(BASE_B.replace("http", "ws", 1), room, "bob", token, micEnabled="true", webcamEnabled="true")
    joined = await bob.event("meeting-joined")
    check(joined.get("media", {}).get("available") is True, "bob on B (relayed to A): media available")

    alice_pc, reply = await rtc.publish(alice)
    check(reply["ok"] and "sdp" in reply, "alice publishes through A")
    bob_pc, reply = await rtc.publish(bob)
    check(reply["ok"] and "sdp" in reply, "bob publishes through B, relayed to A's SFU")
    await alice.event("stream-enabled", where=lambda e: e.get("participantId") == "bob")
    await bob.event("stream-enabled", where=lambda e: e.get("participantId") == "alice")

    pcs = [alice_pc, bob_pc]
    for viewer, viewer_name, target in ((bob, "bob on B", "alice"), (alice, "alice on A", "bob")):
        pc, tracks, answered = await rtc.subscribe(viewer, target)
        pcs.append(pc)
        check(answered is not None and answered.get("ok"), f"{viewer_name} subscribes to {target}")
        count = await rtc.frames(tracks["video"], 3) if tracks else 0
        check(count >= 10, f"{viewer_name} decodes {target}'s video ({count} frames in 3 s)")

    on_a = await listed(DATA_A, room)
    on_b = await listed(DATA_B, room)
    check(on_a is not None and on_b is None, "the room's VideoRoom is on A's Janus only (the owner's), not on B's")

    for pc in pcs:
        await pc.close()
    await alice.close()
    await bob.close()


if __name__ == "__main__":
    asyncio.run(main())
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all cluster media checks passed")
