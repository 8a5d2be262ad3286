#!/usr/bin/env python3
"""The meeting protocol through a plain WebSocket client (Python `websockets`), against a
live `admit serve --dev`: what a browser or any non-Swift SDK sees on the wire.

Usage: rtc_plain_client.py BASE_URL DATA_DIR   (run by scripts/e2e.sh in CI)
Exits 0 when every check passes; prints each failed check and exits 1 otherwise.
"""
import asyncio
import json
import sys
import urllib.error
import urllib.request

import websockets

BASE, DATA = sys.argv[1], sys.argv[2]
WS = BASE.replace("http", "ws", 1)
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def http(method, path, token=None, body=None):
    headers = {"Authorization": token} if token else {}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def recv(ws):
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def main():
    admin = open(f"{DATA}/admin-token").read().strip()
    host_token = http("GET", "/get-token")[1]["token"]
    dev_key = json.loads(urllib.request.urlopen(urllib.request.Request(
        BASE + "/admin/v1/api-keys", headers={"Authorization": "Bearer " + admin})).read())["data"][0]["apiKey"]
    guest_token = http("POST", f"/admin/v1/api-keys/{dev_key}/tokens", "Bearer " + admin,
                       {"permissions": ["ask_join"], "expiresIn": "10m"})[1]["token"]
    crawler_token = http("POST", f"/admin/v1/api-keys/{dev_key}/tokens", "Bearer " + admin,
                         {"permissions": ["allow_join"], "expiresIn": "10m", "roles": ["crawler"]})[1]["token"]
    room = http("POST", "/v2/rooms", host_token, {})[1]["roomId"]

    status, body = http("GET", f"/rtc/validate?roomId={room}", crawler_token)
    check(status == 403 and body.get("code") == 4024, "crawler-only token refused on /rtc/validate with 4024")
    try:
        async with websockets.connect(f"{WS}/rtc?roomId={room}&token={crawler_token}"):
            check(False, "crawler-only token refused on the upgrade")
    except websockets.exceptions.InvalidStatus as error:
        refused = json.loads(bytes(error.response.body))
        check(error.response.status_code == 403 and refused == body, "crawler-only token refused on the upgrade with the same status and body")
    status, body = http("GET", f"/rtc?roomId={room}", crawler_token)
    check(status == 403 and body.get("code") == 4024, "GET /rtc without Upgrade answers the refusal's body")

    async with websockets.connect(f"{WS}/rtc?roomId={room}&participantId=host&name=Host&token={host_token}&maxSendBitrate=hd") as host:
        joined = await recv(host)
        check(joined["event"] == "meeting-joined" and joined["participants"] == [], "host gets meeting-joined with nobody else")
        check(joined["config"]["maxSendBitrate"] == {"value": "hd", "source": "sdk"}, "the SDK's maxSendBitrate comes back in config")
        async with websockets.connect(f"{WS}/rtc?roomId={room}&participantId=guest&name=Guest",
                                      additional_headers={"Authorization": guest_token}) as guest:
            asked = await recv(host)
            check(asked == {"event": "entry-requested", "participantId": "guest", "name": "Guest"}, "host gets entry-requested")
            await guest.send(json.dumps({"id": 1, "method": "setMic", "enabled": True}))
            reply = await recv(guest)
            check(reply["ok"] is False and reply["error"]["code"] == 4067, "a waiting guest's request is refused")
            await host.send(json.dumps({"id": 1, "method": "respondEntry", "participantId": "guest", "decision": "allowed"}))
            check(await recv(host) == {"id": 1, "ok": True}, "respondEntry answered ok")
            check((await recv(host))["event"] == "entry-responded", "host hears the answer")
            check((await recv(guest))["decision"] == "allowed", "guest hears it is allowed")
            guest_joined = await recv(guest)
            check([p["participantId"] for p in guest_joined["participants"]] == ["host"], "guest's meeting-joined lists the host")
            check((await recv(host)) == {"event": "participant-joined", "participantId": "guest", "name": "Guest"}, "host sees participant-joined")
            await host.send(json.dumps({"id": 2, "method": "disableMic", "participantId": "guest"}))
            check(await recv(host) == {"id": 2, "ok": True}, "disableMic answered ok")
            check((await recv(host))["event"] == "mic-changed" and (await recv(guest))["event"] == "mic-changed", "everyone sees mic-changed")
            await guest.send(json.dumps({"id": 5, "method": "startRecording"}))
            check((await recv(guest))["error"]["code"] == 4011, "startRecording without allow_mod is refused with 4011")
            await host.send(json.dumps({"id": 6, "method": "startRecording", "config": {"quality": "high"}}))
            reply = await recv(host)
            check(reply["ok"] is True and reply["job"]["config"]["quality"] == {"value": "high", "source": "sdk"},
                  "startRecording answers the job with its config sourced sdk")
            check((await recv(host))["status"] == "RECORDING_STARTING" and (await recv(guest))["status"] == "RECORDING_STARTING",
                  "everyone hears recording-state-changed RECORDING_STARTING")
            await host.send(json.dumps({"id": 7, "method": "stopRecording"}))
            check((await recv(host))["job"]["status"] == "stopped", "stopRecording of an unclaimed job stops it at once")
            check((await recv(guest)) == {"event": "recording-state-changed", "status": "RECORDING_STOPPED", "id": reply["job"]["id"]},
                  "everyone hears RECORDING_STOPPED")
            await recv(host)
            await guest.send("{not json")
            check((await recv(guest))["name"] == "INVALID_REQUEST", "a frame that is not JSON gets an error event")
            await guest.send(json.dumps({"id": 3, "method": "end"}))
            check((await recv(guest))["error"]["code"] == 3057, "end without allow_mod is refused with 3057")
            await host.send(json.dumps({"id": 4, "method": "end"}))
            check(await recv(host) == {"id": 4, "ok": True}, "end answered ok")
            left = await recv(host)
            check(left["event"] == "meeting-left" and left["reason"]["code"] == 1006, "host leaves with 1006")
            check((await recv(guest))["reason"]["code"] == 1006, "guest leaves with 1006")

    sessions = http("GET", f"/v2/sessions?roomId={room}", host_token)[1]["data"]
    check(len(sessions) == 1 and sessions[0]["status"] == "ended", "the session is recorded as ended")
    session = sessions[0]
    check(session["links"]["get_room"] == f"{BASE}/v2/rooms/{room}" and session["chatLink"] is None
          and isinstance(session["activeDuration"], int) and session["userId"] == dev_key,
          "a session answers VideoSDK's fields: absolute links, userId, activeDuration, chatLink")
    check(all(len(p["_id"]) == 24 for p in session["participants"]), "each session participant has an _id")
    # A link is followed with the same token, as VideoSDK's clients do.
    check(session["links"]["get_session"].startswith(BASE + "/"), "get_session is on this server")
    status, followed = http("GET", session["links"]["get_session"][len(BASE):], host_token)
    check(status == 200 and followed["data"][0]["id"] == session["id"], "get_session answers the room's sessions")

    # The official SDKs' preflight gets the join checks' verdict.
    status, body = http("POST", "/infra/v1/meetings/init-config", host_token, {"roomId": room})
    check(status == 200 and body["data"]["signalingUrl"] == f"{WS}/rtc", "init-config answers where to signal")
    status, body = http("POST", "/infra/v1/meetings/init-config", host_token, {"roomId": "zzzz-zzzz-zzzz"})
    check(status == 404 and body["code"] == 4003, "init-config refuses an unknown room with 4003")

    # The domain whitelist guards the upgrade itself (a browser sends Origin on every WebSocket).
    status, _ = http("PATCH", f"/admin/v1/api-keys/{dev_key}/settings", "Bearer " + admin,
                     {"transcription": {"whitelistDomains": ["https://app.example.com"]}})
    check(status == 200, "the dev key gets a whitelist")
    try:
        async with websockets.connect(f"{WS}/rtc?roomId={room}&token={host_token}", origin="https://evil.example"):
            check(False, "an upgrade from another origin is refused")
    except websockets.exceptions.InvalidStatus as error:
        refused = json.loads(bytes(error.response.body))
        check(error.response.status_code == 403 and refused.get("code") == 4025 and refused.get("reason") == "origin",
              "an upgrade from another origin is refused with 4025")
    async with websockets.connect(f"{WS}/rtc?roomId={room}&token={host_token}", origin="https://app.example.com") as ws:
        check((await recv(ws))["event"] == "meeting-joined", "an upgrade from the whitelisted origin joins")
    http("PUT", f"/admin/v1/api-keys/{dev_key}/settings", "Bearer " + admin, {})


asyncio.run(main())
if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")
