#!/usr/bin/env python3
"""Media through Admit against the same operations straight on Janus's API, in one run
(run by Benchmarks/media.sh inside a network namespace, against `admit serve --dev`):

- offer to answer: aiortc's offer in, the SFU's answer out (Admit: `publish`; Janus: attach,
  join as publisher, `publish`), ROUNDS times each, interleaved;
- subscribe to first frame: Admit `subscribe` + `subscribeAnswer`; Janus: attach, join as
  subscriber, `start`; until the first decoded video frame;
- a room where every publisher is seen by every other: N participants publish small video
  and subscribe to all others; frames per second each subscription decodes.

Usage: media_bench.py BASE_URL DATA_DIR [ROUNDS] [ROOM_SIZES]
"""
import asyncio
import json
import random
import statistics
import sys
import time
import urllib.request

sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "Tests", "media"))
import media_test as mt  # noqa: E402  (its Participant and Janus helpers)
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack  # noqa: E402
from aiortc.mediastreams import AudioStreamTrack  # noqa: E402
import av  # noqa: E402

ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 20
SIZES = [int(n) for n in (sys.argv[4] if len(sys.argv) > 4 else "6").split(",")]


class SmallVideo(VideoStreamTrack):
    """160x120 frames at aiortc's 30 fps: the room test measures forwarding, not the encoder."""

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(width=160, height=120, format="yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.pts, frame.time_base = pts, time_base
        return frame


async def offer(video=VideoStreamTrack):
    pc = RTCPeerConnection()
    pc.addTrack(AudioStreamTrack())
    pc.addTrack(video())
    await pc.setLocalDescription(await pc.createOffer())
    return pc


def percentiles(values):
    values = sorted(values)
    return values[len(values) // 2], values[min(len(values) - 1, int(len(values) * 0.99))]


async def through_admit(room, token, index):
    guest = await mt.Participant.join(room, f"p{index}", token, micEnabled="true", webcamEnabled="true")
    await guest.event("meeting-joined")
    pc = await offer()
    started = time.perf_counter()
    reply = await guest.request("publish", sdp=pc.localDescription.sdp)
    elapsed = time.perf_counter() - started
    assert reply["ok"], reply
    await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
    return guest, pc, elapsed


async def straight(janus, janus_room):
    handle = (await janus.send({"janus": "attach", "plugin": "janus.plugin.videoroom", "session_id": janus.session}))["data"]["id"]
    pc = await offer()
    feed = random.randint(1, 1 << 50)
    started = time.perf_counter()
    await janus.ws.send(json.dumps({"janus": "message", "session_id": janus.session, "handle_id": handle, "transaction": "j",
                                    "apisecret": janus.secret,
                                    "body": {"request": "join", "ptype": "publisher", "room": janus_room, "id": feed}}))
    await wait_event(janus, "j")
    await janus.ws.send(json.dumps({"janus": "message", "session_id": janus.session, "handle_id": handle, "transaction": "p",
                                    "apisecret": janus.secret, "body": {"request": "publish"},
                                    "jsep": {"type": "offer", "sdp": pc.localDescription.sdp}}))
    answer = await wait_event(janus, "p")
    elapsed = time.perf_counter() - started
    await pc.setRemoteDescription(RTCSessionDescription(answer["jsep"]["sdp"], "answer"))
    return feed, pc, elapsed


async def wait_event(janus, transaction):
    while True:
        message = json.loads(await asyncio.wait_for(janus.ws.recv(), 10))
        if message.get("transaction") == transaction and message.get("janus") in ("event", "success", "error"):
            return message


async def first_frame_admit(host, target):
    """(pc, subscribe to the SFU's offer, subscribe to the first decoded frame)."""
    started = time.perf_counter()
    reply = await host.request("subscribe", participantId=target)
    offered = time.perf_counter() - started
    pc = RTCPeerConnection()
    arrived = asyncio.get_running_loop().create_future()

    @pc.on("track")
    def on_track(track):
        if track.kind == "video" and not arrived.done():
            arrived.set_result(track)

    await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    await host.request("subscribeAnswer", subscriptionId=reply["subscriptionId"], sdp=pc.localDescription.sdp)
    track = await asyncio.wait_for(arrived, 10)
    await asyncio.wait_for(track.recv(), 10)
    return pc, offered, time.perf_counter() - started


async def first_frame_straight(janus, janus_room, feed):
    handle = (await janus.send({"janus": "attach", "plugin": "janus.plugin.videoroom", "session_id": janus.session}))["data"]["id"]
    started = time.perf_counter()
    await janus.ws.send(json.dumps({"janus": "message", "session_id": janus.session, "handle_id": handle, "transaction": "s",
                                    "apisecret": janus.secret,
                                    "body": {"request": "join", "ptype": "subscriber", "room": janus_room, "streams": [{"feed": feed}]}}))
    event = await wait_event(janus, "s")
    offered = time.perf_counter() - started
    pc = RTCPeerConnection()
    arrived = asyncio.get_running_loop().create_future()

    @pc.on("track")
    def on_track(track):
        if track.kind == "video" and not arrived.done():
            arrived.set_result(track)

    await pc.setRemoteDescription(RTCSessionDescription(event["jsep"]["sdp"], "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    await janus.ws.send(json.dumps({"janus": "message", "session_id": janus.session, "handle_id": handle, "transaction": "t",
                                    "apisecret": janus.secret, "body": {"request": "start"},
                                    "jsep": {"type": "answer", "sdp": pc.localDescription.sdp}}))
    await wait_event(janus, "t")
    track = await asyncio.wait_for(arrived, 10)
    await asyncio.wait_for(track.recv(), 10)
    return pc, offered, time.perf_counter() - started


async def relay_overhead(token):
    room = mt.http("POST", "/v2/rooms", token, {})[1]["roomId"]
    host = await mt.Participant.join(room, "host", token)
    await host.event("meeting-joined")
    admit_publish, janus_publish, admit_first, janus_first, admit_offer, janus_offer = [], [], [], [], [], []
    closing = []
    async with mt.Janus() as janus:
        janus_room = (await janus.room(room))["room"]
        for index in range(ROUNDS):
            guest, pc, elapsed = await through_admit(room, token, index)
            admit_publish.append(elapsed)
            await host.event("stream-enabled", where=lambda e, i=index: e["participantId"] == f"p{i}")
            sub, offered, first = await first_frame_admit(host, f"p{index}")
            admit_offer.append(offered)
            admit_first.append(first)
            feed, direct, elapsed = await straight(janus, janus_room)
            janus_publish.append(elapsed)
            await asyncio.sleep(1.5)  # Janus's webrtcup for the straight publisher
            sub2, offered, first = await first_frame_straight(janus, janus_room, feed)
            janus_offer.append(offered)
            janus_first.append(first)
            closing += [pc, sub, direct, sub2]
            await guest.close()
            if len(closing) > 16:
                for old in closing:
                    await old.close()
                closing = []
    for old in closing:
        await old.close()
    await host.close()
    for name, admit, janus in [
        ("offer to answer", admit_publish, janus_publish), ("subscribe to the SFU's offer", admit_offer, janus_offer),
        ("subscribe to first frame", admit_first, janus_first),
    ]:
        (a50, a99), (j50, j99) = percentiles(admit), percentiles(janus)
        print(f"{name:26} through Admit p50 {a50 * 1000:7.1f} ms p99 {a99 * 1000:7.1f} ms | straight to Janus p50 {j50 * 1000:7.1f} ms "
              f"p99 {j99 * 1000:7.1f} ms | Admit adds p50 {(a50 - j50) * 1000:+.1f} ms p99 {(a99 - j99) * 1000:+.1f} ms", flush=True)


async def full_room(token, size):
    room = mt.http("POST", "/v2/rooms", token, {})[1]["roomId"]
    people = []
    for index in range(size):
        participant = await mt.Participant.join(room, f"m{index}", token, micEnabled="true", webcamEnabled="true")
        await participant.event("meeting-joined")
        pc = await offer(SmallVideo)
        reply = await participant.request("publish", sdp=pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
        people.append((participant, pc))
    await asyncio.sleep(3)
    subscriptions = []
    for index, (participant, _) in enumerate(people):
        for other in range(size):
            if other != index:
                pc, tracks, answered = await mt.subscribe(participant, f"m{other}")
                subscriptions.append((pc, tracks["video"]))
    await asyncio.sleep(2)
    counts = await asyncio.gather(*(mt.frames(track, 5) for _, track in subscriptions))
    rates = [count / 5 for count in counts]
    print(f"room of {size}: {len(subscriptions)} subscriptions, decoded frames/s each: min {min(rates):.1f} "
          f"median {statistics.median(rates):.1f} (sent at 30/s); every publisher seen by every other: "
          f"{'yes' if min(rates) >= 5 else 'no'}", flush=True)
    for pc, _ in subscriptions:
        await pc.close()
    for participant, pc in people:
        await pc.close()
        await participant.close()


async def main():
    token = json.loads(urllib.request.urlopen(mt.BASE + "/get-token").read())["token"]
    await relay_overhead(token)
    for size in SIZES:
        await full_room(token, size)


asyncio.run(main())
