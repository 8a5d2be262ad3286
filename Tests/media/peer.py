#!/usr/bin/env python3
"""A WebRTC peer (aiortc) driven over stdin/stdout, one JSON object per line, so that a test in
another language (Tests/AdmitServerTests/MediaPeerTests.swift, through AdmitClient) can do the
signalling while real media flows:

  {"op": "offer"}                -> {"sdp": <offer with synthetic audio and video>}
  {"op": "answer", "sdp": S}     -> {"ok": true}     (the SFU's answer to that offer)
  {"op": "subscribe", "sdp": S}  -> {"sdp": <answer>} (an offer from the SFU; frames counted)
  {"op": "frames"}               -> {"frames": N}    (video frames decoded so far)
  {"op": "quit"}
Errors answer {"error": "..."}.
"""
import asyncio
import json
import sys

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack


async def main():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    connections = []
    decoded = {"frames": 0}

    async def count(track):
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            decoded["frames"] += 1

    def say(message):
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    while True:
        line = await reader.readline()
        if not line:
            break
        try:
            request = json.loads(line)
            op = request.get("op")
            if op == "offer":
                pc = RTCPeerConnection()
                connections.append(pc)
                pc.addTrack(AudioStreamTrack())
                pc.addTrack(VideoStreamTrack())
                await pc.setLocalDescription(await pc.createOffer())
                say({"sdp": pc.localDescription.sdp})
            elif op == "answer":
                await connections[-1].setRemoteDescription(RTCSessionDescription(request["sdp"], "answer"))
                say({"ok": True})
            elif op == "subscribe":
                pc = RTCPeerConnection()
                connections.append(pc)

                @pc.on("track")
                def on_track(track):
                    if track.kind == "video":
                        asyncio.ensure_future(count(track))

                await pc.setRemoteDescription(RTCSessionDescription(request["sdp"], "offer"))
                await pc.setLocalDescription(await pc.createAnswer())
                say({"sdp": pc.localDescription.sdp})
            elif op == "frames":
                say({"frames": decoded["frames"]})
            elif op == "quit":
                break
            else:
                say({"error": f"unknown op {op}"})
        except Exception as error:  # the test reads the error and fails with it
            say({"error": repr(error)})
    for pc in connections:
        await pc.close()


asyncio.run(main())
