// The room page: check camera and microphone, enter, publish, and see and hear everyone else.
import { applyTranslations, errorText, installLanguageSwitch, t } from "/static/i18n.js";
import { publishStream, subscribeTo } from "/static/room-media.js";
import { RoomSocket } from "/static/signalling.js";

const PUBLISHING_ROLES = new Set(["admin", "leader", "staff", "petitioner"]);
const VIDEO_MAX_BITRATE = 1_200_000; // enough for 720p talking heads; kind to a phone's uplink
const RECONNECT_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];
// Errors that waiting will not cure: stop and say why. Others (room not open yet, room full,
// network) are retried, so a petitioner who arrives early is let in when the room opens.
const PERMANENT_ERRORS = new Set(["invalid_token", "not_authenticated", "forbidden", "room_closed", "close_4401", "close_4403", "close_4410"]);

const $ = (selector) => document.querySelector(selector);
const roomId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());

const state = {
  token: null,
  claims: {},
  socket: null,
  me: null,
  iceServers: [],
  localStream: null,
  publishPc: null,
  publishSessionId: null,
  subscriptions: new Map(), // participant id -> { pc, sessionId }
  pendingSubscribe: new Map(), // participant id -> timer
  participants: new Map(), // participant id -> info
  leaving: false,
  audioMuted: false,
  videoMuted: false,
};

function readToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  const storageKey = `hall.token.${roomId}`;
  if (fromHash) {
    sessionStorage.setItem(storageKey, fromHash);
    // Keep the token out of the address bar, screenshots and the browser history.
    history.replaceState(null, "", location.pathname + location.search);
    return fromHash;
  }
  return sessionStorage.getItem(storageKey);
}

function tokenClaims(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

function setStatus(text, isError = false) {
  const status = $("#status");
  status.textContent = text || "";
  status.classList.toggle("message", Boolean(isError));
  status.classList.toggle("error", Boolean(isError));
}

// ------------------------------------------------------------------------------------------ preview

async function startPreview() {
  $("#preview").hidden = false;
  await acquireMedia();
  await listDevices();
  $("#camera").addEventListener("change", () => acquireMedia());
  $("#microphone").addEventListener("change", () => acquireMedia());
}

async function acquireMedia() {
  const cameraId = $("#camera").value;
  const microphoneId = $("#microphone").value;
  stopLocalMedia();
  const wantVideo = cameraId !== "none";
  const wantAudio = microphoneId !== "none";
  if (!wantVideo && !wantAudio) {
    $("#preview-video").srcObject = null;
    return;
  }
  const constraints = {
    video: wantVideo ? { deviceId: cameraId ? { exact: cameraId } : undefined, width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 25, max: 30 } } : false,
    audio: wantAudio ? { deviceId: microphoneId ? { exact: microphoneId } : undefined, echoCancellation: true, noiseSuppression: true } : false,
  };
  try {
    state.localStream = await navigator.mediaDevices.getUserMedia(constraints);
    $("#preview-video").srcObject = state.localStream;
    $("#preview-message").hidden = true;
  } catch (error) {
    state.localStream = null;
    const message = $("#preview-message");
    message.hidden = false;
    message.textContent = error.name === "NotAllowedError" || error.name === "NotFoundError"
      ? t("room.permissionDenied")
      : error.name === "NotReadableError" ? t("room.deviceBusy") : t("error.generic") + error.message;
  }
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [select, kind, noneKey] of [[$("#camera"), "videoinput", "room.noCamera"], [$("#microphone"), "audioinput", "room.noMicrophone"]]) {
    const current = state.localStream?.getTracks().find((track) => track.kind === kind.replace("input", ""))?.getSettings().deviceId;
    select.replaceChildren();
    for (const device of devices.filter((d) => d.kind === kind)) {
      select.append(new Option(device.label || device.deviceId.slice(0, 8), device.deviceId, false, device.deviceId === current));
    }
    select.append(new Option(t(noneKey), "none", false, !current && select.options.length === 0));
  }
}

function stopLocalMedia() {
  for (const track of state.localStream?.getTracks() ?? []) track.stop();
  state.localStream = null;
}

// ------------------------------------------------------------------------------------------ the room

async function enter() {
  $("#preview").hidden = true;
  $("#preview-video").srcObject = null;
  setStatus(t("room.connecting"));
  let welcome;
  try {
    state.socket = new RoomSocket(roomId, state.token);
    welcome = await state.socket.connect();
  } catch (error) {
    const permanent = PERMANENT_ERRORS.has(error.code);
    setStatus(errorText(error.code, error.message) + (permanent ? "" : " " + t("room.retrying")), true);
    return permanent ? "stop" : "retry";
  }
  state.me = welcome.participant;
  state.iceServers = welcome.ice_servers;
  state.participants.clear();
  $("#stage").hidden = false;
  $("#room-name").textContent = roomId;
  setStatus("");
  listen(state.socket);
  addTile(state.me, true);
  for (const participant of welcome.roster) {
    if (participant.id === state.me.id) continue;
    state.participants.set(participant.id, participant);
    addTile(participant, false);
    if (participant.publications.length) subscribe(participant.id);
  }
  updateAlone();
  showDirection(welcome.permissions.direct);
  if (welcome.permissions.publish && state.localStream) await publish();
  else setControlsEnabled(false);
  return "ok";
}

function listen(socket) {
  socket.addEventListener("participant_joined", ({ detail }) => {
    state.participants.set(detail.participant.id, detail.participant);
    addTile(detail.participant, false);
    updateAlone();
  });
  socket.addEventListener("participant_left", ({ detail }) => {
    const id = detail.participant.id;
    state.participants.delete(id);
    closeSubscription(id);
    document.querySelector(`.tile[data-participant-id="${CSS.escape(id)}"]`)?.remove();
    updateAlone();
  });
  socket.addEventListener("participant_updated", ({ detail }) => updateFlags(detail.participant));
  socket.addEventListener("track_published", ({ detail }) => {
    if (detail.participant.id === state.me?.id) return;
    // Audio and video are announced one after the other: subscribe once to both.
    clearTimeout(state.pendingSubscribe.get(detail.participant.id));
    state.pendingSubscribe.set(detail.participant.id, setTimeout(() => subscribe(detail.participant.id), 250));
  });
  socket.addEventListener("track_unpublished", ({ detail }) => {
    if (detail.participant.id !== state.me?.id) closeSubscription(detail.participant.id);
  });
  socket.addEventListener("program_updated", ({ detail }) => showProgram(detail.program));
  socket.addEventListener("room_closed", () => {
    state.leaving = true;
    teardown();
    setStatus(t("room.closed"));
  });
  socket.addEventListener("closed", ({ detail }) => {
    if (state.leaving) return;
    teardown();
    if (PERMANENT_ERRORS.has(detail.reason) || PERMANENT_ERRORS.has(`close_${detail.code}`)) {
      setStatus(errorText(detail.reason, detail.reason), true);
      return;
    }
    reconnect(0);
  });
}

async function reconnect(attempt) {
  if (attempt === 0) setStatus(t("room.reconnecting"));
  await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)]));
  if (state.leaving) return;
  if ((await enter()) === "retry") reconnect(attempt + 1);
}

function watchConnection(pc, onFailure) {
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState === "failed" && !state.leaving) {
      setStatus(t("room.networkFailed"), true);
      onFailure();
    } else if (pc.connectionState === "connected" && $("#status").textContent === t("room.networkFailed")) {
      setStatus("");
    }
  });
}

async function publish() {
  try {
    await publishStream(() => state.socket, state.localStream, state.iceServers, {
      maxBitrate: VIDEO_MAX_BITRATE,
      onPeer: (pc) => {
        state.publishPc = pc;
        watchConnection(pc, () => {
          // Start over: end the dead session, then publish again on a new connection.
          if (state.publishSessionId) state.socket?.send({ type: "end_session", session_id: state.publishSessionId });
          pc.close();
          state.publishPc = null;
          setTimeout(() => !state.leaving && state.socket && publish(), 2000);
        });
      },
      onSession: (sessionId) => (state.publishSessionId = sessionId),
    });
  } catch (error) {
    setStatus(errorText(error.code, error.message), true);
    state.publishPc = null;
    return;
  }
  setControlsEnabled(true);
  if (state.audioMuted || state.videoMuted) {
    // After a reconnect the others must see the same state as before.
    state.socket.send({ type: "mute", audio: state.audioMuted, video: state.videoMuted });
  }
}

async function subscribe(participantId) {
  state.pendingSubscribe.delete(participantId);
  if (state.subscriptions.has(participantId) || !state.participants.has(participantId)) return;
  let entry;
  try {
    await subscribeTo(() => state.socket, participantId, state.iceServers, {
      onPeer: (pc) => {
        entry = { pc, sessionId: null };
        state.subscriptions.set(participantId, entry);
        watchConnection(pc, () => {
          closeSubscription(participantId);
          setTimeout(() => !state.leaving && subscribe(participantId), 2000);
        });
      },
      onSession: (sessionId) => (entry.sessionId = sessionId),
      onTrack: (event, stream) => {
        const tile = document.querySelector(`.tile[data-participant-id="${CSS.escape(participantId)}"]`);
        if (!tile) return;
        const video = tile.querySelector("video");
        if (video.srcObject !== stream) video.srcObject = stream;
        if (event.track.kind === "video") tile.classList.remove("no-video");
        video.play().catch(() => offerTapToPlay());
      },
    });
  } catch (error) {
    state.subscriptions.delete(participantId);
    if (error.code !== "nothing_published" && error.code !== "participant_not_found") {
      setStatus(errorText(error.code, error.message), true);
    }
  }
}

// Some phones (iOS without camera permission) refuse to start sound without a tap.
function offerTapToPlay() {
  const button = $("#tap-to-play");
  if (!button.hidden) return;
  button.hidden = false;
  button.addEventListener("click", () => {
    for (const video of document.querySelectorAll(".tile video")) video.play().catch(() => {});
    button.hidden = true;
  }, { once: true });
}

function closeSubscription(participantId) {
  const entry = state.subscriptions.get(participantId);
  if (!entry) return;
  state.subscriptions.delete(participantId);
  if (entry.sessionId) state.socket?.send({ type: "end_session", session_id: entry.sessionId });
  entry.pc.close();
  const tile = document.querySelector(`.tile[data-participant-id="${CSS.escape(participantId)}"]`);
  if (tile) {
    tile.classList.add("no-video");
    tile.querySelector("video").srcObject = null;
  }
}

function teardown() {
  for (const id of [...state.subscriptions.keys()]) closeSubscription(id);
  for (const timer of state.pendingSubscribe.values()) clearTimeout(timer);
  state.pendingSubscribe.clear();
  state.publishPc?.close();
  state.publishPc = null;
  $("#grid").replaceChildren();
}

// ------------------------------------------------------------------------------------------ tiles

function addTile(participant, isSelf) {
  if (document.querySelector(`.tile[data-participant-id="${CSS.escape(participant.id)}"]`)) return;
  const tile = document.createElement("div");
  tile.className = "tile no-video" + (isSelf ? " self" : "");
  tile.dataset.participantId = participant.id;
  tile.dataset.initial = (participant.name || "?").slice(0, 1);
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  if (isSelf) {
    video.muted = true;
    if (state.localStream?.getVideoTracks().length) {
      video.srcObject = state.localStream;
      tile.classList.remove("no-video");
    }
  }
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = isSelf ? `${participant.name}（${t("room.you")}）` : participant.name;
  const flags = document.createElement("span");
  flags.className = "flags";
  tile.append(video, label, flags);
  $("#grid").append(tile);
  updateFlags(participant);
}

function updateFlags(participant) {
  const tile = document.querySelector(`.tile[data-participant-id="${CSS.escape(participant.id)}"]`);
  if (!tile) return;
  const flags = tile.querySelector(".flags");
  flags.replaceChildren();
  if (participant.audio_muted) flags.append(Object.assign(document.createElement("span"), { textContent: t("room.muted") }));
  if (participant.video_muted) flags.append(Object.assign(document.createElement("span"), { textContent: t("room.cameraIsOff") }));
}

function updateAlone() {
  const grid = $("#grid");
  grid.querySelector(".alone")?.remove();
  if (state.participants.size === 0) {
    grid.append(Object.assign(document.createElement("p"), { className: "alone", textContent: t("room.alone") }));
  }
}

// ------------------------------------------------------------------------------------------ controls

function setControlsEnabled(publishing) {
  const hasAudio = publishing && state.localStream?.getAudioTracks().length > 0;
  const hasVideo = publishing && state.localStream?.getVideoTracks().length > 0;
  $("#toggle-mic").disabled = !hasAudio;
  $("#toggle-camera").disabled = !hasVideo;
}

// Muting disables the local track (silence or black is sent) and tells everyone else.
const MUTE_CONTROLS = {
  audio: { button: "#toggle-mic", flag: "audioMuted", tracks: "getAudioTracks", on: "room.mute", off: "room.unmute" },
  video: { button: "#toggle-camera", flag: "videoMuted", tracks: "getVideoTracks", on: "room.cameraOff", off: "room.cameraOn" },
};

function toggleMute(kind) {
  const control = MUTE_CONTROLS[kind];
  const muted = (state[control.flag] = !state[control.flag]);
  for (const track of state.localStream?.[control.tracks]() ?? []) track.enabled = !muted;
  const button = $(control.button);
  button.dataset.i18n = muted ? control.off : control.on;
  button.textContent = t(button.dataset.i18n);
  button.classList.toggle("off", muted);
  if (kind === "video") document.querySelector(".tile.self")?.classList.toggle("no-video", muted);
  state.socket?.send({ type: "mute", [kind]: muted });
}

// ------------------------------------------------------------------------------------------ directing

async function showDirection(allowed) {
  $("#direct").hidden = !allowed;
  if (!allowed) return;
  // The big screen gets a watch-only token of its own, never this page's (which may publish and direct).
  // It rides in the fragment, so it is never sent to the server with the page.
  try {
    const link = await state.socket.request({ type: "screen_link" });
    $("#program-open").href = `/rooms/${encodeURIComponent(roomId)}/program#token=${encodeURIComponent(link.token)}`;
  } catch (error) {
    $("#program-open").removeAttribute("href");
  }
}

function showProgram(program) {
  if (!program) return;
  $("#program-layout").value = program.layout;
  if (document.activeElement !== $("#program-caption")) $("#program-caption").value = program.caption || "";
}

async function direct(event) {
  event.preventDefault();
  try {
    const reply = await state.socket.request({
      type: "program",
      layout: $("#program-layout").value,
      caption: $("#program-caption").value.trim() || null,
    });
    showProgram(reply.program);
  } catch (error) {
    setStatus(errorText(error.code, error.message), true);
  }
}

function leave() {
  state.leaving = true;
  teardown();
  state.socket?.close();
  stopLocalMedia();
  sessionStorage.removeItem(`hall.token.${roomId}`);
  $("#stage").hidden = true;
  setStatus(t("room.left"));
}

// ------------------------------------------------------------------------------------------ start

async function main() {
  applyTranslations();
  installLanguageSwitch($("#lang"));
  document.title = `${t("app.title")} · ${roomId}`;
  document.addEventListener("languagechange", () => {
    document.title = `${t("app.title")} · ${roomId}`;
    for (const participant of [state.me, ...state.participants.values()]) {
      if (participant) updateFlags(participant);
    }
    const self = document.querySelector(".tile.self .label");
    if (self && state.me) self.textContent = `${state.me.name}（${t("room.you")}）`;
    updateAlone();
  });
  state.token = readToken();
  if (!state.token) {
    setStatus(t("room.noToken"), true);
    return;
  }
  state.claims = tokenClaims(state.token);
  $("#toggle-mic").addEventListener("click", () => toggleMute("audio"));
  $("#toggle-camera").addEventListener("click", () => toggleMute("video"));
  $("#leave").addEventListener("click", leave);
  $("#direct").addEventListener("submit", direct);
  $("#join").addEventListener("click", async () => {
    $("#join").disabled = true;
    const outcome = await enter();
    if (outcome === "retry") reconnect(1);
    else if (outcome === "stop") $("#preview").hidden = false;
    $("#join").disabled = false;
  });
  window.addEventListener("pagehide", () => { state.leaving = true; state.socket?.close(); });
  if (PUBLISHING_ROLES.has(state.claims.role) && navigator.mediaDevices?.getUserMedia) {
    await startPreview();
  } else {
    $("#preview").hidden = false;
    $("#preview-video").hidden = true;
    for (const select of document.querySelectorAll("#preview select")) select.closest("div").hidden = true;
    const message = $("#preview-message");
    message.hidden = false;
    message.textContent = t("room.watchOnly");
  }
}

main();
