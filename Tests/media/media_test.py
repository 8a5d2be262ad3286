#!/usr/bin/env python3
"""Media through Admit and a real Janus, with aiortc as the participants' WebRTC stack
(CONTRACT.md section 7). Run by scripts/media-test.sh inside a network namespace, against
`admit serve --dev` (which starts its own Janus).

Usage: media_test.py BASE_URL DATA_DIR
Exits 0 when every check passes; prints each failed check and exits 1 otherwise.
"""
import asyncio
import json
import sys
import time
import urllib.error
import urllib.request

import rtc
from rtc import frames, publish, subscribe

BASE, DATA = sys.argv[1], sys.argv[2]
WS = BASE.replace("http", "ws", 1)
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def http(method, path, token=None, body=None):
    headers = {"Authorization": token, "Content-Type": "application/json"} if token else {"Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class Participant(rtc.Participant):
    @classmethod
    async def join(cls, room, participant, token, **query):
        return await cls.connect(WS, room, participant, token, **query)


class Janus(rtc.Janus):
    def __init__(self):
        super().__init__(DATA)


async def main():
    admin = open(f"{DATA}/admin-token").read().strip()
    token = http("GET", "/get-token")[1]["token"]
    dev_key = json.loads(urllib.request.urlopen(urllib.request.Request(
        BASE + "/admin/v1/api-keys", headers={"Authorization": "Bearer " + admin})).read())["data"][0]["apiKey"]
    guest_token = http("POST", f"/admin/v1/api-keys/{dev_key}/tokens", "Bearer " + admin,
                       {"permissions": ["ask_join"], "expiresIn": "10m"})[1]["token"]
    status, _ = http("PATCH", f"/admin/v1/api-keys/{dev_key}/settings", "Bearer " + admin, {"maxSendBitrate": "hd"})
    check(status == 200, "the dashboard caps the key at hd")
    room = http("POST", "/v2/rooms", token, {})[1]["roomId"]

    host = await Participant.join(room, "host", token)
    joined = await host.event("meeting-joined")
    media = joined.get("media", {})
    check(media.get("available") is True and media.get("maxSendBitrateBps") == 1500000,
          "meeting-joined.media says media is available, capped at 1.5 Mbit/s")
    guest = await Participant.join(room, "guest", token, micEnabled="true", webcamEnabled="true")
    await guest.event("meeting-joined")

    async with Janus() as janus:
        listed = await janus.room(room)
        check(listed is not None and listed.get("bitrate") == 1500000,
              f"Janus has the room, its bitrate the effective setting (got {listed and listed.get('bitrate')})")

        started = time.monotonic()
        guest_pc, reply = await publish(guest)
        offer_to_answer = time.monotonic() - started
        check(reply["ok"] and "b=TIAS:1500000" in reply["sdp"], "publish answers the SFU's answer with the cap written in (b=TIAS)")
        enabled = {(await host.event("stream-enabled"))["kind"] for _ in range(2)}
        check(enabled == {"audio", "video"}, "the host hears stream-enabled for the guest's audio and video")

        started = time.monotonic()
        host_pc, tracks, answered = await subscribe(host, "guest")
        check(answered is not None and answered["ok"], "the host subscribes to the guest and answers the offer")
        video = tracks["video"]
        await asyncio.wait_for(video.recv(), 10)
        first_frame = time.monotonic() - started
        check(await frames(video, 2) >= 10, "the host decodes the guest's video frames")
        print(f"     offer to answer {offer_to_answer * 1000:.1f} ms, subscribe to first frame {first_frame * 1000:.0f} ms")

        # Moderation reaches the media: the SFU stops forwarding the guest's video.
        assert (await host.request("disableWebcam", participantId="guest"))["ok"]
        disabled = await host.event("stream-disabled", where=lambda e: e["participantId"] == "guest")
        check(disabled["kind"] == "video", "disableWebcam: everyone hears stream-disabled for the guest's video")
        await frames(video, 1.0)  # what was in flight
        check(await frames(video, 2.0) == 0, "after disableWebcam the host's frames stop")
        watcher = await janus.videoroom({"request": "listparticipants", "room": listed["room"]})
        check(any(p.get("display") == "guest" for p in watcher.get("participants", [])), "Janus lists the guest as a participant")
        joined_janus = await janus.send({"janus": "message", "session_id": janus.session, "handle_id": janus.handle,
                                         "body": {"request": "join", "ptype": "publisher", "room": listed["room"], "display": "checker"}})
        publishers = joined_janus["plugindata"]["data"].get("publishers", [])
        moderated = [s for p in publishers if p.get("display") == "guest" for s in p.get("streams", []) if s.get("type") == "video"]
        check(moderated and moderated[0].get("moderated") is True, "Janus shows the guest's video moderated")
        await janus.videoroom({"request": "leave"})

        # The guest turns the webcam on again when asked.
        assert (await host.request("enableWebcam", participantId="guest"))["ok"]
        await guest.event("webcam-requested")
        assert (await guest.request("respondWebcamRequest", accept=True))["ok"]
        check((await host.event("stream-enabled"))["kind"] == "video", "enableWebcam accepted: stream-enabled again")
        check(await frames(video, 3) >= 5, "frames flow again after the webcam is enabled")

        # A late joiner hears which streams already flow; nobody touches another's subscription.
        late = await Participant.join(room, "late", token)
        await late.event("meeting-joined")
        told = {(await late.event("stream-enabled"))["kind"] for _ in range(2)}
        check(told == {"audio", "video"}, "a participant joining later hears the guest's streams (stream-enabled)")
        theirs = answered["subscriptionId"]
        for method, fields in [("unsubscribe", {}), ("trickle", {"target": theirs, "candidate": None}),
                               ("subscribeAnswer", {"sdp": host_pc.localDescription.sdp})]:
            refused = await late.request(method, subscriptionId=theirs, **fields) if method != "trickle" else await late.request(method, **fields)
            check(not refused["ok"] and refused["error"]["code"] == 4092, f"another connection's {method} on the host's subscription is refused (4092)")
        duplicate = await host.request("subscribe", participantId="guest")
        check(not duplicate["ok"] and duplicate["error"]["code"] == 4092, "a second subscription to the same publisher is refused (4092)")
        check(await frames(video, 2) >= 5, "the host's frames keep flowing")
        await late.close()

        # A lobby participant can neither publish nor subscribe.
        waiting = await Participant.join(room, "waiter", guest_token)
        await host.event("entry-requested")
        lobby_pc, refused = await publish(waiting)
        check(not refused["ok"] and refused["error"]["code"] == 4091, "a participant in the lobby cannot publish (4091)")
        refused = await waiting.request("subscribe", participantId="guest")
        check(not refused["ok"] and refused["error"]["code"] == 4092, "a participant in the lobby cannot subscribe (4092)")
        await lobby_pc.close()
        await waiting.close()

        # Removal kicks the guest's media: Janus no longer lists it within a second.
        assert (await host.request("removeParticipant", participantId="guest"))["ok"]
        removed_at = time.monotonic()
        gone = False
        while time.monotonic() - removed_at < 1.0:
            participants = (await janus.videoroom({"request": "listparticipants", "room": listed["room"]})).get("participants", [])
            if not any(p.get("display") == "guest" for p in participants):
                gone = True
                break
            await asyncio.sleep(0.05)
        check(gone, f"after removal Janus no longer lists the guest (within {time.monotonic() - removed_at:.2f} s)")
        check((await host.event("stream-disabled", where=lambda e: e["participantId"] == "guest"))["kind"] in ("audio", "video"),
              "the host hears the guest's streams stop")

        # Revocation, a replacing connection and the server API's remove kick the media too.
        async def publishing(name):
            member = await Participant.join(room, name, token, micEnabled="true", webcamEnabled="true")
            await member.event("meeting-joined")
            pc, answer = await publish(member)
            await host.event("stream-enabled", where=lambda e: e["participantId"] == name)
            return member, pc

        async def gone(name, action):
            started = time.monotonic()
            while time.monotonic() - started < 1.0:
                listed = (await janus.videoroom({"request": "listparticipants", "room": listed_room})).get("participants", [])
                if not any(p.get("display") == name for p in listed):
                    return True
                await asyncio.sleep(0.05)
            print(f"     {name} still in Janus 1 s after {action}")
            return False

        listed_room = listed["room"]
        revoked, revoked_pc = await publishing("revoked")
        status, _ = http("POST", "/admin/v1/revocations", "Bearer " + admin, {"apiKey": dev_key, "participantId": "revoked"})
        check(status == 200 and await gone("revoked", "revocation"), "a revoked participant's media is gone from Janus within a second")
        twin, twin_pc = await publishing("twin")
        second = await Participant.join(room, "twin", token)
        await second.event("meeting-joined")
        check(await gone("twin", "replacement"), "a replaced connection's media is gone from Janus within a second")
        removed, removed_pc = await publishing("api-removed")
        status, _ = http("POST", "/v2/sessions/participants/remove", token, {"roomId": room, "participantId": "api-removed"})
        check(status == 200 and await gone("api-removed", "the server API's remove"),
              "the server API's remove takes the participant's media out of Janus within a second")
        for pc in (revoked_pc, twin_pc, removed_pc):
            await pc.close()
        for member in (revoked, twin, second, removed):
            await member.close()

        # End destroys the room.
        assert (await host.request("end"))["ok"]
        ended_at = time.monotonic()
        exists = True
        while time.monotonic() - ended_at < 2.0 and exists:
            exists = (await janus.videoroom({"request": "exists", "room": listed["room"]})).get("exists", True)
            if exists:
                await asyncio.sleep(0.05)
        check(not exists, "after end the VideoRoom no longer exists in Janus (within 2 s)")

    for pc in (guest_pc, host_pc):
        await pc.close()
    await host.close()
    await guest.close()
    await janus_restart(token)


async def room_in_janus(room, seconds=4):
    """The room's VideoRoom as Janus lists it, waiting up to `seconds` for it (it is made asynchronously)."""
    deadline = time.monotonic() + seconds
    while True:
        async with Janus() as janus:
            listed = await janus.room(room)
        if listed or time.monotonic() > deadline:
            return listed
        await asyncio.sleep(0.05)


def health():
    return json.loads(urllib.request.urlopen(BASE + "/health").read())


async def janus_restart(token):
    """Janus dies mid-meeting: joins go on without media (4090), /health says so (still 200),
    and when Janus is back the room is created again and media works."""
    room = http("POST", "/v2/rooms", token, {})[1]["roomId"]
    host = await Participant.join(room, "host", token)
    await host.event("meeting-joined")
    # The VideoRoom is created when the session starts, by the bridge's queue: give it a moment.
    check(await room_in_janus(room) is not None, "the new session's VideoRoom exists")
    pid = int(open(f"{DATA}/janus/janus.pid").read().strip())
    import os
    import signal
    os.kill(pid, signal.SIGKILL)
    down_at = time.monotonic()
    state = "up"
    while time.monotonic() - down_at < 3 and state == "up":
        state = health()["sfu"]["state"]
        await asyncio.sleep(0.05)
    check(state in ("down", "connecting"), f"/health says the SFU is {state} (still 200) once Janus dies")
    guest = await Participant.join(room, "guest", token, micEnabled="true", webcamEnabled="true")
    joined = await guest.event("meeting-joined")
    check(joined["media"]["available"] is False, "a join while Janus is down works, and says media is unavailable")
    pc, refused = await publish(guest)
    check(not refused["ok"] and refused["error"]["code"] == 4090, "a publish while Janus is down is refused with 4090")
    await pc.close()
    while time.monotonic() - down_at < 15 and health()["sfu"]["state"] != "up":
        await asyncio.sleep(0.1)
    check(health()["sfu"]["state"] == "up", f"Janus is back within {time.monotonic() - down_at:.1f} s")
    check(await room_in_janus(room) is not None, "the room's VideoRoom is created again in the new Janus")
    pc, reply = await publish(guest)
    check(reply["ok"], "publishing works again")
    enabled = await host.event("stream-enabled", timeout=10)
    check(enabled["participantId"] == "guest", "and the host hears the guest's stream")
    await pc.close()
    await host.close()
    await guest.close()


if __name__ == "__main__":
    asyncio.run(main())
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all media checks passed")
