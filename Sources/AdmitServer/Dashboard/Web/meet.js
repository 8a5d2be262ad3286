// The meeting page (CONTRACT.md sections 4, 7 and 8): a token in, /rtc as docs/protocol.md
// describes it, no SDK. With an SFU it publishes the camera and microphone and shows every
// other participant's video in a tile; without one it says so and shows who is there.
import { decodeJWT, el, fill } from "/dashboard/assets/common.js";

const roomId = (() => {
  const segment = location.pathname.split("/")[2] || "";
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
})();
const $ = (id) => document.getElementById(id);
const status = $("status");
const tiles = new Map(); // participantId -> {figure, video, stream, name, mic, webcam, caption}
const subscriptions = new Map(); // publisherId -> {id, pc}
const subscribing = new Set();
const streaming = new Map(); // publisherId -> Set of kinds reaching the room
let socket = null;
let me = null;
let permissions = [];
let nextId = 0;
const replies = new Map();
let localStream = null;
let publisher = null;
let media = { available: false, iceServers: [] };

$("room-id").textContent = roomId;
document.title = `Meeting ${roomId} · Admit`;

function say(text, kind = "") {
  fill(status, text ? el("div", { className: `notice ${kind}` }, text) : null);
}

function request(method, fields = {}) {
  nextId += 1;
  const id = nextId;
  return new Promise((resolve) => {
    replies.set(id, resolve);
    socket.send(JSON.stringify({ id, method, ...fields }));
  });
}

/** Waits until ICE gathering is complete (host candidates come at once), at most two seconds. */
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, 2000);
  });
}

// MARK: Tiles

function tile(participantId, name) {
  let entry = tiles.get(participantId);
  if (entry) return entry;
  const video = el("video", { autoplay: true, playsinline: true, "aria-label": `Video of ${name}` });
  if (participantId === me) video.muted = true;
  const label = el("strong", {}, participantId === me ? `${name} (you)` : name);
  const state = el("span", { className: "muted" });
  const controls = el("span", { className: "actions" });
  if (participantId !== me && permissions.includes("allow_mod")) {
    controls.append(
      el("button", { type: "button", className: "secondary", "aria-label": `Mute ${name}`, onclick: () => request("disableMic", { participantId }) }, "Mute"),
      el("button", { type: "button", className: "danger", "aria-label": `Remove ${name}`, onclick: () => request("removeParticipant", { participantId }) }, "Remove"),
    );
  }
  const figure = el("figure", { className: "tile", "data-participant": participantId }, video, el("figcaption", {}, el("span", {}, label, " ", state), controls));
  figure.style.margin = "0";
  entry = { figure, video, stream: new MediaStream(), name, mic: false, webcam: false, state };
  video.srcObject = entry.stream;
  tiles.set(participantId, entry);
  $("tiles").append(figure);
  return entry;
}

function devices(participantId, mic, webcam) {
  const entry = tiles.get(participantId);
  if (!entry) return;
  if (mic !== undefined) entry.mic = mic;
  if (webcam !== undefined) entry.webcam = webcam;
  entry.state.textContent = `mic ${entry.mic ? "on" : "off"} · camera ${entry.webcam ? "on" : "off"}`;
  if (participantId === me) {
    $("toggle-mic").textContent = entry.mic ? "Mute me" : "Unmute me";
    $("toggle-cam").textContent = entry.webcam ? "Stop my camera" : "Start my camera";
    for (const track of localStream ? localStream.getTracks() : []) track.enabled = track.kind === "audio" ? entry.mic : entry.webcam;
  }
}

function removeTile(participantId) {
  const entry = tiles.get(participantId);
  if (entry) entry.figure.remove();
  tiles.delete(participantId);
  endSubscription(participantId, false);
}

// MARK: Media

async function publish() {
  if (!media.available || !localStream) return;
  publisher = new RTCPeerConnection({ iceServers: media.iceServers });
  for (const track of localStream.getTracks()) publisher.addTrack(track, localStream);
  await publisher.setLocalDescription(await publisher.createOffer());
  await gathered(publisher);
  const reply = await request("publish", { sdp: publisher.localDescription.sdp });
  if (!reply.ok) return say(`Publishing failed: ${reply.error.message}${reply.error.reason ? ` (${reply.error.reason})` : ""}`, "bad");
  await publisher.setRemoteDescription({ type: "answer", sdp: reply.sdp });
}

async function subscribe(publisherId, attempt = 0) {
  if (subscriptions.has(publisherId) || subscribing.has(publisherId) || !socket) return;
  subscribing.add(publisherId);
  try {
    const reply = await request("subscribe", { participantId: publisherId });
    if (!reply.ok) {
      // Its media may not have reached the SFU yet: once more, shortly.
      if (attempt < 3) setTimeout(() => subscribe(publisherId, attempt + 1).catch(() => {}), 700);
      return;
    }
    const pc = new RTCPeerConnection({ iceServers: media.iceServers });
    const entry = tiles.get(publisherId) || tile(publisherId, publisherId);
    pc.addEventListener("track", (event) => {
      for (const old of entry.stream.getTracks().filter((track) => track.kind === event.track.kind)) entry.stream.removeTrack(old);
      entry.stream.addTrack(event.track);
      entry.video.srcObject = entry.stream;
      entry.video.play().catch(() => {});
    });
    subscriptions.set(publisherId, { id: reply.subscriptionId, pc });
    try {
      await pc.setRemoteDescription({ type: "offer", sdp: reply.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      const answered = await request("subscribeAnswer", { subscriptionId: reply.subscriptionId, sdp: pc.localDescription.sdp });
      if (!answered.ok) endSubscription(publisherId, true);
    } catch (error) {
      say(`Could not receive ${publisherId}'s media: ${error.message}`, "bad");
      endSubscription(publisherId, true);
    }
  } finally {
    subscribing.delete(publisherId);
  }
}

/** Closes our side of a subscription; `tell` sends `unsubscribe` (Admit ends it itself when the publisher goes). */
function endSubscription(publisherId, tell) {
  const subscription = subscriptions.get(publisherId);
  if (!subscription) return;
  subscriptions.delete(publisherId);
  subscription.pc.close();
  if (tell && socket) request("unsubscribe", { subscriptionId: subscription.id });
  const entry = tiles.get(publisherId);
  if (entry) for (const track of entry.stream.getTracks()) entry.stream.removeTrack(track);
}

// MARK: Events

function onEvent(message) {
  switch (message.event) {
    case "meeting-joined": {
      me = message.participantId;
      permissions = message.permissions || [];
      media = message.media || media;
      $("join-form").hidden = true;
      $("meeting").hidden = false;
      say(media.available ? "" : "Media is off: this server has no SFU (media server) configured, so only signalling works. You can still see who is here.", media.available ? "" : "bad");
      const mine = tile(me, $("name").value.trim() || me);
      if (localStream) {
        for (const track of localStream.getTracks()) mine.stream.addTrack(track);
      }
      devices(me, Boolean(localStream && localStream.getAudioTracks().length), Boolean(localStream && localStream.getVideoTracks().length));
      for (const other of message.participants || []) {
        tile(other.participantId, other.name);
        devices(other.participantId, other.mic, other.webcam);
      }
      publish().catch((error) => say(`Publishing failed: ${error.message}`, "bad"));
      break;
    }
    case "participant-joined":
      tile(message.participantId, message.name);
      devices(message.participantId, false, false);
      break;
    case "participant-left":
      removeTile(message.participantId);
      streaming.delete(message.participantId);
      break;
    case "mic-changed":
      devices(message.participantId, message.enabled, undefined);
      break;
    case "webcam-changed":
      devices(message.participantId, undefined, message.enabled);
      break;
    case "stream-enabled": {
      if (message.participantId === me) break;
      const kinds = streaming.get(message.participantId) || new Set();
      kinds.add(message.kind);
      streaming.set(message.participantId, kinds);
      // `participant-joined` carries no device state: the streams say what reaches the room.
      devices(message.participantId, message.kind === "audio" ? true : undefined, message.kind === "video" ? true : undefined);
      subscribe(message.participantId).catch((error) => say(`Could not receive media: ${error.message}`, "bad"));
      break;
    }
    case "stream-disabled": {
      const kinds = streaming.get(message.participantId);
      if (!kinds) break;
      kinds.delete(message.kind);
      devices(message.participantId, message.kind === "audio" ? false : undefined, message.kind === "video" ? false : undefined);
      // Nothing reaches the room from it any more: our subscription ends (a new one follows its next stream).
      if (kinds.size === 0) endSubscription(message.participantId, true);
      break;
    }
    case "entry-requested":
      lobbyEntry(message.participantId, message.name);
      break;
    case "entry-responded":
      if (message.participantId === me && message.decision === "denied") say("A host denied your request to join.", "bad");
      else if (message.participantId === me) say("A host let you in.", "good");
      document.querySelector(`[data-waiting="${CSS.escape(message.participantId)}"]`)?.remove();
      break;
    case "mic-requested":
    case "webcam-requested":
      askDevice(message.event === "mic-requested", message.participantId);
      break;
    case "meeting-left":
      say(`You left the meeting: ${message.reason ? message.reason.message : "the connection closed"}`, "bad");
      leave(false);
      break;
    case "error":
      say(`${message.message || "Error"} (${message.code})`, "bad");
      break;
    default:
      break;
  }
}

function lobbyEntry(participantId, name) {
  if (document.querySelector(`[data-waiting="${CSS.escape(participantId)}"]`)) return;
  const answer = async (decision) => {
    const reply = await request("respondEntry", { participantId, decision });
    if (!reply.ok) say(reply.error.message, "bad");
  };
  $("lobby").append(el("div", { className: "notice", "data-waiting": participantId },
    el("strong", {}, name), ` (${participantId}) is waiting to join. `,
    el("span", { className: "actions" },
      el("button", { type: "button", onclick: () => answer("allowed") }, "Admit"),
      el("button", { type: "button", className: "danger", onclick: () => answer("denied") }, "Deny"))));
}

function askDevice(mic, by) {
  const box = el("div", { className: "notice" }, `${by} asks you to turn your ${mic ? "microphone" : "camera"} on. `);
  const answer = async (accept) => {
    box.remove();
    await request(mic ? "respondMicRequest" : "respondWebcamRequest", { accept });
  };
  box.append(el("span", { className: "actions" }, el("button", { type: "button", onclick: () => answer(true) }, "Turn on"), el("button", { type: "button", className: "secondary", onclick: () => answer(false) }, "No")));
  $("lobby").append(box);
}

// MARK: Joining and leaving

function leave(tell) {
  if (tell && socket) request("leave");
  const closing = socket;
  socket = null;
  if (closing) closing.close();
  // Every request still waiting gets an answer, and nothing of this meeting is kept.
  for (const resolve of replies.values()) resolve({ ok: false, error: { message: "left the meeting" } });
  replies.clear();
  subscribing.clear();
  streaming.clear();
  me = null;
  permissions = [];
  $("join").disabled = false;
  if (publisher) publisher.close();
  publisher = null;
  for (const id of [...subscriptions.keys()]) endSubscription(id, false);
  for (const track of localStream ? localStream.getTracks() : []) track.stop();
  localStream = null;
  for (const id of [...tiles.keys()]) removeTile(id);
  fill($("lobby"));
  $("meeting").hidden = true;
  $("join-form").hidden = false;
}

async function join(event) {
  event.preventDefault();
  if (socket || $("join").disabled) return;
  const token = $("token").value.trim();
  if (!token) return say("Paste a token first.", "bad");
  $("join").disabled = true;
  try {
    await connect(token);
  } catch (error) {
    say(`Cannot join: ${error.message}`, "bad");
    $("join").disabled = false;
  }
}

async function connect(token) {
  const claims = decodeJWT(token);
  const participantId = $("participant-id").value.trim() || (claims && claims.payload.participantId) || Math.random().toString(16).slice(2, 10);
  const name = $("name").value.trim() || participantId;
  const query = new URLSearchParams({ roomId, participantId, name });
  // The reason for a refusal, which a browser cannot read from a failed WebSocket handshake.
  const verdict = await fetch(`/rtc/validate?${query}`, { headers: { Authorization: token } });
  const body = await verdict.json().catch(() => ({}));
  if (!verdict.ok) {
    $("join").disabled = false;
    return say(`Cannot join: ${body.error || body.message || verdict.status}`, "bad");
  }
  if (config.media) {
    try {
      localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    } catch (error) {
      say(`No camera or microphone (${error.name}): joining without them.`, "bad");
    }
  }
  query.set("token", token);
  query.set("micEnabled", String(Boolean(localStream && localStream.getAudioTracks().length)));
  query.set("webcamEnabled", String(Boolean(localStream && localStream.getVideoTracks().length)));
  const connection = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/rtc?${query}`);
  socket = connection;
  connection.addEventListener("message", (message) => {
    let parsed;
    try {
      parsed = JSON.parse(message.data);
    } catch {
      return;
    }
    if (typeof parsed.id === "number" && "ok" in parsed) {
      const resolve = replies.get(parsed.id);
      replies.delete(parsed.id);
      if (resolve) resolve(parsed);
      return;
    }
    onEvent(parsed);
  });
  connection.addEventListener("close", () => {
    // Only this connection's end: an older one closing must not take the current one down.
    if (socket === connection) leave(false);
  });
  if (body.admission === "lobby") say("Waiting for a host to let you in…");
}

const config = await fetch("/meet/api/config").then((response) => response.json()).catch(() => ({}));
if (config.tokenEndpoint) {
  const answer = await fetch(`/get-token?roomId=${encodeURIComponent(roomId)}`).catch(() => null);
  const body = answer && answer.ok ? await answer.json() : null;
  if (body && body.token && !$("token").value) $("token").value = body.token;
}
if (!config.media) say("This server has no SFU configured: the meeting runs without audio and video.");
$("join-form").addEventListener("submit", join);
$("leave").addEventListener("click", () => leave(true));
$("toggle-mic").addEventListener("click", () => request("setMic", { enabled: !(tiles.get(me) || {}).mic }));
$("toggle-cam").addEventListener("click", () => request("setWebcam", { enabled: !(tiles.get(me) || {}).webcam }));
