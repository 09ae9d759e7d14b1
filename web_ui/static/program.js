// The program page: the room's composed picture and mixed sound over WHEP, for the hall's big screen.
// Open it as /rooms/<room>/program#token=<join token>; it reconnects by itself until the token expires.
import { applyTranslations, errorText, installLanguageSwitch, t } from "/static/i18n.js";
import { gatheringComplete, iceServersFrom } from "/static/signalling.js";

const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];
const PERMANENT_ERRORS = new Set(["invalid_token", "not_authenticated", "forbidden", "room_closed"]);
const $ = (selector) => document.querySelector(selector);
const roomId = decodeURIComponent(location.pathname.split("/").filter(Boolean).at(-2));
const state = { token: null, pc: null, resource: null, attempt: 0, stopped: false };

function readToken() {
  const storageKey = `hall.token.${roomId}`;
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem(storageKey, fromHash);
    history.replaceState(null, "", location.pathname + location.search); // keep it off the screen
    return fromHash;
  }
  return sessionStorage.getItem(storageKey);
}

function setStatus(text, isError = false) {
  const status = $("#status");
  status.textContent = text || "";
  status.hidden = !text;
  status.classList.toggle("error", Boolean(isError));
}

async function connect() {
  setStatus(t("program.connecting"));
  const pc = new RTCPeerConnection();
  state.pc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const stream = new MediaStream();
  pc.addEventListener("track", ({ track }) => {
    stream.addTrack(track);
    const video = $("#program");
    if (video.srcObject !== stream) video.srcObject = stream;
    playWithSound(video);
  });
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState === "connected") {
      state.attempt = 0;
      setStatus("");
    }
    if ((pc.connectionState === "failed" || pc.connectionState === "closed") && state.pc === pc) retry();
  });
  await pc.setLocalDescription(await pc.createOffer());
  await gatheringComplete(pc);
  const response = await fetch(`/whep/${encodeURIComponent(roomId)}`, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${state.token}` },
    body: pc.localDescription.sdp,
  });
  if (response.status !== 201) {
    const body = await response.json().catch(() => ({}));
    throw Object.assign(new Error(body.message || response.statusText), { code: body.error || `http_${response.status}` });
  }
  state.resource = response.headers.get("Location");
  const servers = iceServersFrom(response);
  if (servers.length) pc.setConfiguration({ iceServers: servers });
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
}

async function playWithSound(video) {
  video.muted = false;
  try {
    await video.play();
    $("#tap-to-play").hidden = true;
  } catch {
    // The browser wants a tap before it plays sound: show the picture now, the sound after the tap.
    video.muted = true;
    video.play().catch(() => {});
    $("#tap-to-play").hidden = false;
  }
}

async function start() {
  try {
    await connect();
  } catch (error) {
    if (PERMANENT_ERRORS.has(error.code)) {
      state.stopped = true;
      setStatus(errorText(error.code, error.message), true);
      return;
    }
    setStatus(errorText(error.code, error.message) + " " + t("room.retrying"), true);
    retry();
  }
}

function retry() {
  if (state.stopped) return;
  const pc = state.pc;
  state.pc = null;
  pc?.close();
  state.resource = null;
  const delay = RETRY_DELAYS_MS[Math.min(state.attempt, RETRY_DELAYS_MS.length - 1)];
  state.attempt += 1;
  setTimeout(start, delay);
}

function main() {
  installLanguageSwitch($("#lang"));
  applyTranslations();
  state.token = readToken();
  if (!state.token) {
    setStatus(t("room.noToken"), true);
    return;
  }
  $("#tap-to-play").addEventListener("click", () => playWithSound($("#program")));
  $("#fullscreen").addEventListener("click", () => document.documentElement.requestFullscreen?.());
  window.addEventListener("pagehide", () => {
    state.stopped = true;
    if (state.resource) {
      fetch(state.resource, { method: "DELETE", headers: { Authorization: `Bearer ${state.token}` }, keepalive: true });
    }
  });
  start();
}

main();
