"""What the media tests share: a /rtc participant, Janus's own API, and aiortc publishing,
subscribing and counting frames (Tests/media/media_test.py, Tests/cluster/media_test.py)."""
import asyncio
import json
import re
import time

import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack


class Participant:
    """One /rtc connection: requests with ids, events queued by name."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.replies = {}
        self.events = asyncio.Queue()
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(cls, ws_base, room, participant, token, **query):
        """Joins through the server at `ws_base` (ws://host:port)."""
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        ws = await websockets.connect(f"{ws_base}/rtc?roomId={room}&participantId={participant}&name={participant}&token={token}{extra}",
                                      max_size=1 << 20)
        return cls(ws)

    async def _read(self):
        try:
            async for text in self.ws:
                message = json.loads(text)
                if "id" in message and "ok" in message:
                    future = self.replies.pop(message["id"], None)
                    if future:
                        future.set_result(message)
                else:
                    await self.events.put(message)
        except websockets.ConnectionClosed:
            pass

    async def request(self, method, **fields):
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.replies[self.next_id] = future
        await self.ws.send(json.dumps({"id": self.next_id, "method": method, **fields}))
        return await asyncio.wait_for(future, 15)

    async def event(self, name, timeout=10, where=lambda e: True):
        """The next event called `name` (and matching `where`); others before it are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {name} within {timeout} s")
            message = await asyncio.wait_for(self.events.get(), remaining)
            if message.get("event") == name and where(message):
                return message

    async def close(self):
        await self.ws.close()
        self.reader.cancel()


class Janus:
    """Janus's own API, straight (the dev-mode Janus under DATA/janus): to check what Admit did."""

    def __init__(self, data):
        config = open(f"{data}/janus/janus.jcfg").read()
        self.secret = re.search(r'api_secret = "([^"]+)"', config).group(1)
        ws_config = open(f"{data}/janus/janus.transport.websockets.jcfg").read()
        port = re.search(r"ws_port = (\d+)", ws_config).group(1)
        self.url = f"ws://127.0.0.1:{port}/"
        self.transaction = 0

    async def __aenter__(self):
        self.ws = await websockets.connect(self.url, subprotocols=["janus-protocol"])
        self.session = (await self.send({"janus": "create"}))["data"]["id"]
        self.handle = (await self.send({"janus": "attach", "plugin": "janus.plugin.videoroom", "session_id": self.session}))["data"]["id"]
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()

    async def send(self, message):
        self.transaction += 1
        transaction = f"check{self.transaction}"
        await self.ws.send(json.dumps({**message, "transaction": transaction, "apisecret": self.secret}))
        while True:
            answer = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if answer.get("transaction") == transaction and answer.get("janus") != "ack":
                return answer

    async def videoroom(self, body):
        answer = await self.send({"janus": "message", "session_id": self.session, "handle_id": self.handle, "body": body})
        return answer["plugindata"]["data"]

    async def room(self, description):
        rooms = (await self.videoroom({"request": "list"}))["list"]
        return next((room for room in rooms if room.get("description") == description), None)


async def publish(participant, audio=True, video=True):
    pc = RTCPeerConnection()
    if audio:
        pc.addTrack(AudioStreamTrack())
    if video:
        pc.addTrack(VideoStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    reply = await participant.request("publish", sdp=pc.localDescription.sdp)
    if reply["ok"]:
        await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))
    return pc, reply


async def subscribe(participant, target):
    reply = await participant.request("subscribe", participantId=target)
    if not reply["ok"]:
        return None, None, reply
    pc = RTCPeerConnection()
    tracks = {}
    arrived = asyncio.Event()

    @pc.on("track")
    def on_track(track):
        tracks[track.kind] = track
        if "video" in tracks:
            arrived.set()

    await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"], "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    answered = await participant.request("subscribeAnswer", subscriptionId=reply["subscriptionId"], sdp=pc.localDescription.sdp)
    await asyncio.wait_for(arrived.wait(), 10)
    return pc, tracks, answered | {"subscriptionId": reply["subscriptionId"]}


async def frames(track, seconds):
    """How many frames arrive within `seconds`."""
    count = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            await asyncio.wait_for(track.recv(), max(0.01, deadline - time.monotonic()))
            count += 1
        except (asyncio.TimeoutError, MediaStreamError):
            break
    return count
