// The petitioner's phone page, opened from the SMS link /v/<link_key>: the appointment, the recording notice,
// a camera and microphone check, the waiting room, the reception itself, and the rating. One screen at a time.
import "/static/visit-i18n.js";
import { ApiError } from "/static/api.js";
import { applyTranslations, errorText, installLanguageSwitch, t } from "/static/i18n.js";
import { publishStream, subscribeTo } from "/static/room-media.js";
import { RoomSocket } from "/static/signalling.js";

const LINK_KEY_PATTERN = /^[A-Za-z0-9_-]{16,64}$/; // as the server's route
const JOINABLE = new Set(["confirmed", "no_show", "waiting", "in_session"]);
const SCREENS = ["loading", "appointment", "devices", "waiting", "call", "rating", "thanks", "notice"];
// A cheap phone on a weak network: a modest picture, and a bitrate its uplink can keep up with.
const VIDEO_CONSTRAINTS = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 15, max: 20 } };
const VIDEO_MAX_BITRATE = 500_000;
const REQUEST_TIMEOUT_MS = 20_000;
const PING_MS = 20_000;
const SILENCE_LIMIT_MS = 50_000; // nothing heard (not even a pong) this long: the connection is dead
const RECONNECT_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];
const OPENING_RETRY_MS = 5000; // the room opens on the scheduler's next pass, within seconds of its time
const REQUESTED_POLL_MS = 60_000;
const CLOCK_SKEW_MS = 3000; // trust the phone's clock unless the server's differs by more than this
const HOSTS = ["leader", "admin", "staff"]; // whose picture fills the screen, in this order
// The entry pass was spent or refused in a way a fresh one cures.
const FRESH_TICKET = new Set(["ticket_used", "invalid_token", "not_authenticated", "close_4401"]);
// Not curable by trying again: look at the appointment and say what became of it.
const SETTLED = new Set(["link_expired", "invalid_transition", "room_closed", "close_4410", "forbidden", "close_4403"]);

const $ = (selector) => document.querySelector(selector);
const linkKey = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const hallZone = validZone(document.querySelector('meta[name="hall-time-zone"]')?.content);

const state = {
  screen: null,
  visit: null,
  clockOffset: 0, // the server's clock minus the phone's (cheap phones are often set wrong)
  consented: false,
  localStream: null,
  cameraChosenOff: false,
  meter: null, // { context, frame }
  socket: null,
  generation: 0, // bumped whenever a connection is given up, so its late events are ignored
  roomId: null,
  pingTimer: null,
  lastHeard: 0,
  retryTimer: null,
  reconnecting: false,
  inCall: false,
  ended: false,
  me: null,
  iceServers: [],
  participants: new Map(), // participant id -> info
  subscriptions: new Map(), // participant id -> { pc, sessionId, stream }
  pendingSubscribe: new Map(), // participant id -> timer
  publishPc: null,
  publishSessionId: null,
  audioMuted: false,
  videoMuted: false,
  score: null,
  countdownTimer: null,
  pollTimer: null,
  clockTimer: null,
  wakeLock: null,
  awake: false,
};

// ------------------------------------------------------------------------------------------ text

// Texts that depend on the language are kept as functions, so a language switch can say them again.
const spoken = new Map();

function say(element, text) {
  if (!text) {
    spoken.delete(element);
    element.textContent = "";
    return;
  }
  const render = typeof text === "function" ? text : () => text;
  spoken.set(element, render);
  element.textContent = render();
}

function format(key, values) {
  return t(key).replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
}

function setStatus(text, kind = "") {
  const status = $("#status");
  say(status, text);
  status.classList.toggle("message", Boolean(kind));
  status.classList.toggle("error", kind === "error");
}

function showMessage(selector, text, kind = "warn") {
  const box = $(selector);
  box.hidden = !text;
  box.classList.toggle("error", kind === "error");
  box.classList.toggle("info", kind === "info");
  say(box, text);
}

// For elements whose text changes with the page's state: applyTranslations keeps it in the chosen language.
function setI18nText(element, key) {
  element.dataset.i18n = key;
  element.textContent = t(key);
}

// ------------------------------------------------------------------------------------------ time

function validZone(zone) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return zone;
  } catch {
    return "Asia/Shanghai";
  }
}

const now = () => Date.now() + state.clockOffset;

function noteServerClock(response) {
  const date = Date.parse(response.headers.get("Date") || "");
  if (Number.isNaN(date)) return;
  const offset = date + 500 - Date.now(); // the header has whole seconds: aim for the middle of one
  state.clockOffset = Math.abs(offset) > CLOCK_SKEW_MS ? offset : 0;
}

function hallFormat(moment, options) {
  return new Intl.DateTimeFormat(document.documentElement.lang || "zh-CN", { timeZone: hallZone, ...options })
    .format(new Date(moment));
}

const dateText = (moment) => hallFormat(moment, { year: "numeric", month: "long", day: "numeric", weekday: "long" });
const clockText = (moment) => hallFormat(moment, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const sameHallDay = (a, b) => hallFormat(a, { dateStyle: "short" }) === hallFormat(b, { dateStyle: "short" });

function slotText(visit) {
  return `${clockText(visit.starts_at)}–${clockText(visit.ends_at)}`;
}

function durationText(milliseconds) {
  const seconds = Math.max(0, Math.ceil(milliseconds / 1000));
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (hours > 0) return format("visit.hours", { h: hours, m: minutes });
  if (minutes > 0) return format("visit.minutes", { m: minutes, s: String(seconds % 60).padStart(2, "0") });
  return format("visit.seconds", { s: seconds });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------------------------------ the API

async function request(method, path, body) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin", // the device cookie binds the link to this phone
      cache: "no-store",
      headers: body === undefined ? { Accept: "application/json" } : { Accept: "application/json", "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
    });
  } catch (error) {
    throw new ApiError(0, "network", error.message);
  } finally {
    clearTimeout(timer);
  }
  noteServerClock(response);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data.error || `http_${response.status}`, data.message || response.statusText);
  return data;
}

const visitPath = (suffix = "") => `/api/visits/${encodeURIComponent(linkKey)}${suffix}`;

// ------------------------------------------------------------------------------------------ screens

function show(name) {
  stopTimers();
  if (name !== "waiting") clearInterval(state.clockTimer);
  if (state.screen === name) return;
  state.screen = name;
  for (const screen of SCREENS) $(`#${screen}`).hidden = screen !== name;
  document.body.classList.toggle("in-call", name === "call");
  // Say where we are to a screen reader, and start the new screen at its top.
  const heading = $(`#${name} h2`);
  if (heading && name !== "call") {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
  window.scrollTo(0, 0);
}

function showNotice(text) {
  finishRoom();
  setStatus("");
  show("notice");
  say($("#notice-text"), text);
}

function stopTimers() {
  clearInterval(state.countdownTimer);
  clearTimeout(state.pollTimer);
  state.countdownTimer = null;
  state.pollTimer = null;
}

// ------------------------------------------------------------------------------------------ steps 1 and 2: the appointment, consent

async function loadVisit() {
  show("loading");
  $("#loading-retry").hidden = true;
  if (!LINK_KEY_PATTERN.test(linkKey)) {
    showNotice(() => errorText("unknown_link"));
    return;
  }
  try {
    state.visit = await request("GET", visitPath());
  } catch (error) {
    if (error.code === "unknown_link") {
      showNotice(() => errorText("unknown_link"));
      return;
    }
    setStatus(() => errorText(error.code, error.message), "error");
    $("#loading-retry").hidden = false;
    return;
  }
  setStatus("");
  route();
}

// Fetch the appointment again without leaving the screen; false when that failed.
async function refreshVisit() {
  try {
    state.visit = await request("GET", visitPath());
    return true;
  } catch (error) {
    if (error.code === "unknown_link") showNotice(() => errorText("unknown_link"));
    return false;
  }
}

function route() {
  const visit = state.visit;
  if (visit.state === "completed") {
    finishRoom();
    if (visit.rated) showThanks(true);
    else showRating();
  } else if (visit.state === "cancelled" || visit.state === "rescheduled") {
    showNotice(() => t(`visit.state.${visit.state}`));
  } else {
    showAppointment();
  }
}

function showAppointment(note) {
  const visit = state.visit;
  show("appointment");
  fillAppointment();
  say($("#appointment-note"), note || (() => t(`visit.state.${visit.state}`)));
  $("#countdown-box").hidden = true;
  $("#consent").hidden = true;
  $("#appointment-next").hidden = true;
  if (visit.state === "requested") {
    // Staff confirm phone bookings: notice it without the petitioner reloading.
    state.pollTimer = setTimeout(async () => {
      if (await refreshVisit()) route();
    }, REQUESTED_POLL_MS);
    return;
  }
  if (!JOINABLE.has(visit.state)) return;
  if (now() < Date.parse(visit.opens_at)) startCountdown();
  else offerToGoOn();
}

// The room is open: the recording notice to agree to; once agreed (back here after a refusal), straight on.
function offerToGoOn() {
  $("#consent").hidden = state.consented;
  $("#consent-declined").hidden = true;
  const next = $("#appointment-next");
  setI18nText(next, "visit.next");
  next.hidden = !state.consented;
  next.disabled = false;
}

function fillAppointment() {
  const visit = state.visit;
  const leader = [visit.leader.name, visit.leader.title].filter(Boolean).join(" ");
  $("#fact-leader").textContent = leader;
  $("#fact-date").textContent = dateText(visit.starts_at);
  $("#fact-time").textContent = slotText(visit);
  $("#fact-number").textContent = visit.number;
  $("#fact-petitioner").textContent = visit.petitioner_name;
}

function startCountdown() {
  const visit = state.visit;
  const opensAt = Date.parse(visit.opens_at);
  const next = $("#appointment-next");
  next.hidden = false;
  next.disabled = true;
  setI18nText(next, "visit.notOpenYet");
  $("#countdown-box").hidden = false;
  say($("#opens-at"), () => {
    const time = sameHallDay(opensAt, now()) ? clockText(opensAt) : `${dateText(opensAt)} ${clockText(opensAt)}`;
    return format("visit.opensAt", { time });
  });
  const tick = async () => {
    const left = opensAt - now();
    if (left > 0) {
      say($("#countdown"), () => format("visit.countdown", { time: durationText(opensAt - now()) }));
      return;
    }
    stopTimers();
    $("#countdown-box").hidden = true;
    // It is time: look again (staff may have moved or cancelled it meanwhile), then go on.
    await refreshVisit();
    if (!JOINABLE.has(state.visit.state)) {
      route();
      return;
    }
    fillAppointment();
    if (state.consented && state.localStream) enterWaitingRoom();
    else offerToGoOn();
  };
  tick();
  state.countdownTimer = setInterval(tick, 1000);
}

function next() {
  if (!state.consented) offerToGoOn();
  else if (!state.localStream?.getAudioTracks().length) showDevices();
  else enterWaitingRoom();
}

// ------------------------------------------------------------------------------------------ step 3: devices

function showDevices() {
  show("devices");
  checkDevices();
}

async function checkDevices() {
  const proceed = $("#device-continue");
  proceed.disabled = true;
  if (!navigator.mediaDevices?.getUserMedia || !window.RTCPeerConnection) {
    showMessage("#device-message", () => t("visit.unsupported"), "error");
    $("#device-retry").hidden = true;
    return;
  }
  showMessage("#device-message", () => t("visit.asking"), "info");
  await acquireMedia("", ""); // checking again starts afresh: the front camera and the usual microphone
  await listDevices();
  startMeter();
  proceed.disabled = !state.localStream?.getAudioTracks().length;
}

async function acquireMedia(cameraId, microphoneId) {
  stopMeter();
  stopLocalMedia();
  state.cameraChosenOff = cameraId === "none";
  const audio = { deviceId: microphoneId ? { exact: microphoneId } : undefined, echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  const video = cameraId ? { deviceId: { exact: cameraId }, ...VIDEO_CONSTRAINTS } : { facingMode: "user", ...VIDEO_CONSTRAINTS };
  let stream = null;
  let failure = null;
  if (!state.cameraChosenOff) {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio, video });
    } catch (error) {
      failure = error;
    }
  }
  if (!stream) {
    // The microphone is what the reception cannot do without; try it on its own.
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio, video: false });
    } catch (error) {
      showMessage("#device-message", () => deviceProblem(error), "error");
      $("#preview-video").srcObject = null;
      $("#preview-video").hidden = true;
      $(".meter-row").hidden = true;
      return;
    }
  }
  state.localStream = stream;
  const hasVideo = stream.getVideoTracks().length > 0;
  $("#preview-video").srcObject = hasVideo ? stream : null;
  $("#preview-video").hidden = !hasVideo;
  $(".meter-row").hidden = false;
  setI18nText($("#device-continue"), hasVideo ? "visit.deviceContinue" : "visit.continueWithoutCamera");
  if (state.cameraChosenOff) showMessage("#device-message", () => t("visit.cameraChosenOff"));
  else if (!hasVideo) showMessage("#device-message", () => t(cameraProblem(failure)));
  else showMessage("#device-message", "");
  for (const track of stream.getTracks()) {
    track.addEventListener("ended", () => {
      if (!$("#devices").hidden) showMessage("#device-message", () => t("visit.deviceBusy"), "error");
    });
  }
}

function cameraProblem(error) {
  if (error?.name === "NotAllowedError" || error?.name === "SecurityError") return "visit.cameraDenied";
  if (error?.name === "NotReadableError") return "visit.cameraBusy";
  return "visit.cameraFailed";
}

function deviceProblem(error) {
  if (error.name === "NotAllowedError" || error.name === "SecurityError") return t("visit.permissionDenied");
  if (error.name === "NotFoundError" || error.name === "OverconstrainedError") return t("visit.noMicrophone");
  if (error.name === "NotReadableError" || error.name === "AbortError") return t("visit.deviceBusy");
  return t("error.generic") + error.message;
}

async function listDevices() {
  let devices = [];
  try {
    devices = await navigator.mediaDevices.enumerateDevices();
  } catch {
    return;
  }
  const pickers = [
    ["#camera", "#camera-picker", "videoinput", "visit.camera"],
    ["#microphone", "#microphone-picker", "audioinput", "visit.microphone"],
  ];
  for (const [selector, box, kind, nameKey] of pickers) {
    const select = $(selector);
    const trackKind = kind === "videoinput" ? "video" : "audio";
    const current = state.localStream?.getTracks().find((track) => track.kind === trackKind)?.getSettings().deviceId;
    const found = devices.filter((device) => device.kind === kind && device.deviceId);
    select.replaceChildren();
    found.forEach((device, index) => {
      const label = device.label || `${t(nameKey)} ${index + 1}`;
      select.append(new Option(label, device.deviceId, false, device.deviceId === current));
    });
    if (kind === "videoinput" && found.length) {
      select.append(new Option(t("visit.noCameraOption"), "none", false, state.cameraChosenOff));
    }
    $(box).hidden = found.length < 2; // one camera and one microphone need no choosing
  }
}

async function changeDevice() {
  $("#device-continue").disabled = true;
  await acquireMedia($("#camera").value, $("#microphone").value);
  startMeter();
  $("#device-continue").disabled = !state.localStream?.getAudioTracks().length;
}

// The microphone's level, drawn as a bar: proof to the petitioner that they are heard.
function startMeter() {
  stopMeter();
  const track = state.localStream?.getAudioTracks()[0];
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!track || !Context) return;
  const context = new Context();
  context.resume().catch(() => {});
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
  const samples = new Uint8Array(analyser.fftSize);
  const bar = $("#mic-bar");
  const meter = $("#mic-meter");
  const heard = $("#mic-heard");
  setI18nText(heard, "visit.micSilent");
  heard.classList.remove("ok");
  let wasHeard = false;
  let lastReported = -1;
  const draw = () => {
    analyser.getByteTimeDomainData(samples);
    let sum = 0;
    for (const sample of samples) sum += ((sample - 128) / 128) ** 2;
    // Speech close to a phone has an RMS of about 0.02 to 0.2: spread that over the bar.
    const level = Math.min(1, Math.sqrt(sum / samples.length) * 5);
    bar.style.transform = `scaleX(${level.toFixed(3)})`;
    const percent = Math.round(level * 100);
    if (Math.abs(percent - lastReported) >= 10) {
      meter.setAttribute("aria-valuenow", String(percent));
      lastReported = percent;
    }
    if (!wasHeard && level > 0.1) {
      wasHeard = true;
      setI18nText(heard, "visit.micHeard");
      heard.classList.add("ok");
    }
    state.meter.frame = requestAnimationFrame(draw);
  };
  state.meter = { context, frame: requestAnimationFrame(draw) };
}

function stopMeter() {
  if (!state.meter) return;
  cancelAnimationFrame(state.meter.frame);
  state.meter.context.close().catch(() => {});
  state.meter = null;
  $("#mic-bar").style.transform = "scaleX(0)";
}

function stopLocalMedia() {
  for (const track of state.localStream?.getTracks() ?? []) track.stop();
  state.localStream = null;
}

// ------------------------------------------------------------------------------------------ step 4: the waiting room

async function enterWaitingRoom() {
  stopMeter();
  $("#preview-video").srcObject = null;
  state.ended = false;
  keepAwake(true);
  showWaiting();
  setStatus(() => t("visit.entering"));
  await connect(0);
}

function showWaiting() {
  show("waiting");
  const visit = state.visit;
  $("#waiting-number").textContent = visit.number;
  say($("#waiting-slot"), () => `${hallFormat(visit.starts_at, { month: "long", day: "numeric" })} ${slotText(visit)}`);
  const self = $("#waiting-self");
  const hasVideo = state.localStream?.getVideoTracks().length > 0;
  self.hidden = !hasVideo;
  self.srcObject = hasVideo ? state.localStream : null;
  const tick = () => say($("#waiting-clock"), () => clockText(now()));
  tick();
  clearInterval(state.clockTimer);
  state.clockTimer = setInterval(tick, 5000);
}

// Get a ticket (single use: a new one for every connection) and open the room socket with it.
async function connect(attempt) {
  clearTimeout(state.retryTimer);
  const generation = ++state.generation;
  let ticket;
  let welcome;
  let socket;
  try {
    ticket = await request("POST", visitPath("/ticket"), { consent: true });
    if (generation !== state.generation) return;
    socket = new RoomSocket(ticket.room_id, ticket.token);
    welcome = await socket.connect();
  } catch (error) {
    if (generation === state.generation) await entryRefused(error, attempt);
    return;
  }
  if (generation !== state.generation || state.ended) {
    socket.close();
    return;
  }
  state.socket = socket;
  state.roomId = ticket.room_id;
  listen(socket, generation);
  startHeartbeat(socket, generation);
  setReconnecting(false);
  setStatus("");
  if (welcome.waiting) {
    if (state.inCall) teardownCall();
    showWaiting();
  } else {
    await startCall(welcome);
  }
}

async function entryRefused(error, attempt) {
  const code = error.code;
  if (code === "room_not_open_yet") {
    // Back to the countdown; or, at the opening minute, wait for the scheduler to open the room.
    setReconnecting(false);
    teardownCall();
    await refreshVisit();
    if (now() < Date.parse(state.visit.opens_at)) {
      showAppointment();
    } else {
      showAppointment(() => t("visit.opensSoon"));
      $("#appointment-next").disabled = true;
      state.retryTimer = setTimeout(() => connect(0), OPENING_RETRY_MS);
    }
    return;
  }
  if (code === "unknown_link" || code === "link_in_use") {
    showNotice(() => errorText(code, error.message));
    return;
  }
  if (SETTLED.has(code)) {
    await settle(() => errorText(code, error.message));
    return;
  }
  if (FRESH_TICKET.has(code) && attempt === 0) {
    connect(1);
    return;
  }
  scheduleReconnect(attempt + 1); // the network, a full or not yet open room: try again shortly
}

// The room is no longer ours: show what became of the appointment (usually: rate it).
async function settle(fallback) {
  state.ended = true;
  finishRoom();
  if (await refreshVisit()) {
    const visit = state.visit;
    if (visit.state === "completed" || visit.state === "cancelled" || visit.state === "rescheduled") route();
    else if (visit.state === "requested") showAppointment();
    else showNotice(fallback || (() => t("visit.missed")));
  } else if ($("#notice").hidden) {
    showNotice(fallback || (() => t("visit.roomClosed")));
  }
}

function scheduleReconnect(attempt) {
  setReconnecting(true);
  clearTimeout(state.retryTimer);
  const delay = RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)];
  state.retryTimer = setTimeout(() => !state.ended && connect(attempt), delay);
}

function setReconnecting(on) {
  state.reconnecting = on;
  document.body.classList.toggle("reconnecting", on);
  if (on) setStatus(() => t("visit.reconnecting"), "warn");
}

function listen(socket, generation) {
  const current = () => generation === state.generation;
  socket.addEventListener("admitted", ({ detail }) => current() && startCall(detail));
  socket.addEventListener("removed", () => {
    if (!current()) return;
    state.ended = true; // the leader ended the reception: on to the rating
    settle();
  });
  socket.addEventListener("room_closed", () => {
    if (!current()) return;
    state.ended = true;
    settle(() => t("visit.roomClosed"));
  });
  socket.addEventListener("participant_joined", ({ detail }) => current() && addParticipant(detail.participant));
  socket.addEventListener("participant_updated", ({ detail }) => {
    if (!current() || detail.participant.id === state.me?.id) return;
    addParticipant(detail.participant);
    layoutVideos();
  });
  socket.addEventListener("participant_left", ({ detail }) => {
    if (!current()) return;
    state.participants.delete(detail.participant.id);
    closeSubscription(detail.participant.id);
    layoutVideos();
  });
  socket.addEventListener("track_published", ({ detail }) => {
    if (!current() || detail.participant.id === state.me?.id) return;
    addParticipant(detail.participant);
    // Audio and video are announced one after the other: subscribe once to both.
    clearTimeout(state.pendingSubscribe.get(detail.participant.id));
    state.pendingSubscribe.set(detail.participant.id, setTimeout(() => subscribe(detail.participant.id), 250));
  });
  socket.addEventListener("track_unpublished", ({ detail }) => {
    if (!current() || detail.participant.id === state.me?.id) return;
    closeSubscription(detail.participant.id);
    layoutVideos();
  });
  socket.addEventListener("closed", () => {
    if (!current() || state.ended) return;
    dropConnection();
  });
}

// A lost connection: forget it (its late events are ignored) and come back in with a new ticket.
function dropConnection() {
  state.generation += 1;
  stopHeartbeat();
  const socket = state.socket;
  state.socket = null;
  socket?.socket?.close();
  closePeers();
  scheduleReconnect(0);
}

function startHeartbeat(socket, generation) {
  stopHeartbeat();
  state.lastHeard = Date.now();
  socket.socket.addEventListener("message", () => { state.lastHeard = Date.now(); });
  state.pingTimer = setInterval(() => {
    if (generation !== state.generation) return;
    // A phone that lost its network may not notice for minutes: the missing pongs tell us sooner.
    if (Date.now() - state.lastHeard > SILENCE_LIMIT_MS) dropConnection();
    else socket.send({ type: "ping" });
  }, PING_MS);
}

function stopHeartbeat() {
  clearInterval(state.pingTimer);
  state.pingTimer = null;
}

// ------------------------------------------------------------------------------------------ step 5: the reception

async function startCall(welcome) {
  closePeers();
  state.inCall = true;
  state.me = welcome.participant;
  state.iceServers = welcome.ice_servers || [];
  state.participants.clear();
  show("call");
  setStatus("");
  const self = $("#self-video");
  const hasVideo = state.localStream?.getVideoTracks().length > 0;
  self.hidden = !hasVideo;
  self.srcObject = hasVideo ? state.localStream : null;
  updateCallNote();
  for (const participant of welcome.roster || []) {
    if (participant.id === state.me.id) continue;
    addParticipant(participant);
    if (participant.publications?.length && !participant.waiting) subscribe(participant.id);
  }
  layoutVideos();
  setControlsEnabled(false);
  if (welcome.permissions?.publish && state.localStream) await publish();
}

function addParticipant(participant) {
  if (participant.waiting || participant.id === state.me?.id) return;
  state.participants.set(participant.id, participant);
}

function watchConnection(pc, onFailure) {
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState === "failed" && !state.ended) {
      setStatus(() => t("visit.networkPoor"), "warn");
      onFailure();
    } else if (pc.connectionState === "connected" && !state.reconnecting) {
      setStatus("");
    }
  });
}

async function publish() {
  const socket = state.socket;
  let pc;
  // The server answers with the codec it forwards (VP8 or H.264) from those the phone offers.
  try {
    await publishStream(socket, state.localStream, state.iceServers, {
      maxBitrate: VIDEO_MAX_BITRATE,
      onPeer: (peer) => {
        pc = peer;
        state.publishPc = pc;
        watchConnection(pc, () => {
          // Start over: end the dead session, then publish again on a new connection.
          if (state.publishSessionId) socket?.send({ type: "end_session", session_id: state.publishSessionId });
          pc.close();
          if (state.publishPc === pc) state.publishPc = null;
          setTimeout(() => !state.ended && state.socket === socket && publish(), 2000);
        });
      },
      onSession: (sessionId) => (state.publishSessionId = sessionId),
    });
  } catch (error) {
    if (state.publishPc === pc) state.publishPc = null;
    if (error.code && error.code !== "socket_closed") setStatus(() => errorText(error.code, error.message), "error");
    return;
  }
  setControlsEnabled(true);
  if (state.audioMuted || state.videoMuted) {
    // After a reconnect the others must see the same state as before.
    socket.send({ type: "mute", audio: state.audioMuted, video: state.videoMuted });
  }
}

async function subscribe(participantId) {
  state.pendingSubscribe.delete(participantId);
  if (state.subscriptions.has(participantId) || !state.participants.has(participantId) || !state.socket) return;
  const socket = state.socket;
  let entry;
  try {
    await subscribeTo(socket, participantId, state.iceServers, {
      onPeer: (pc, stream) => {
        entry = { pc, sessionId: null, stream };
        state.subscriptions.set(participantId, entry);
        watchConnection(pc, () => {
          closeSubscription(participantId);
          setTimeout(() => !state.ended && state.socket === socket && subscribe(participantId), 2000);
        });
      },
      onSession: (sessionId) => (entry.sessionId = sessionId),
      onTrack: () => layoutVideos(),
    });
  } catch (error) {
    if (state.subscriptions.get(participantId) === entry) state.subscriptions.delete(participantId);
    const quiet = ["nothing_published", "participant_not_found", "socket_closed", undefined];
    if (!quiet.includes(error.code)) setStatus(() => errorText(error.code, error.message), "error");
  }
}

function closeSubscription(participantId) {
  const entry = state.subscriptions.get(participantId);
  if (!entry) return;
  state.subscriptions.delete(participantId);
  if (entry.sessionId) state.socket?.send({ type: "end_session", session_id: entry.sessionId });
  entry.pc.close();
}

// The leader fills the screen; anyone else who publishes (staff sitting in) gets a small picture.
function mainParticipantId() {
  const publishing = [...state.subscriptions.keys()].filter((id) => state.participants.has(id));
  const rank = (id) => {
    const index = HOSTS.indexOf(state.participants.get(id).role);
    return index < 0 ? HOSTS.length : index;
  };
  return publishing.sort((a, b) => rank(a) - rank(b))[0] ?? null;
}

function layoutVideos() {
  if (!state.inCall) return;
  const mainId = mainParticipantId();
  const remote = $("#remote-video");
  const stream = mainId ? state.subscriptions.get(mainId).stream : null;
  if (remote.srcObject !== stream) {
    remote.srcObject = stream;
    if (stream) remote.play().catch(offerTapToPlay);
  }
  const others = $("#others");
  const shown = new Set();
  for (const [id, entry] of state.subscriptions) {
    if (id === mainId || !entry.stream.getTracks().length) continue;
    shown.add(id);
    let video = others.querySelector(`video[data-participant-id="${CSS.escape(id)}"]`);
    if (!video) {
      video = Object.assign(document.createElement("video"), { autoplay: true, playsInline: true });
      video.dataset.participantId = id;
      others.append(video);
    }
    video.setAttribute("aria-label", state.participants.get(id)?.name || "");
    if (video.srcObject !== entry.stream) {
      video.srcObject = entry.stream;
      video.play().catch(offerTapToPlay);
    }
  }
  for (const video of others.querySelectorAll("video")) {
    if (!shown.has(video.dataset.participantId)) video.remove();
  }
  const name = $("#remote-name");
  name.textContent = mainId ? state.participants.get(mainId)?.name || "" : "";
  name.hidden = !name.textContent;
  updatePlaceholder();
}

function updatePlaceholder() {
  const remote = $("#remote-video");
  const mainId = mainParticipantId();
  const placeholder = $("#remote-placeholder");
  const hasPicture = remote.srcObject && remote.videoWidth > 0;
  if (mainId && state.participants.get(mainId)?.video_muted) {
    placeholder.hidden = false;
    setI18nText(placeholder, "visit.leaderNoVideo");
  } else {
    placeholder.hidden = Boolean(hasPicture);
    setI18nText(placeholder, "visit.connectingLeader");
  }
}

// Some phones refuse to start sound without a tap.
function offerTapToPlay() {
  const button = $("#tap-to-play");
  button.hidden = false;
}

function playAll() {
  for (const video of document.querySelectorAll("#call video")) video.play().catch(() => {});
  $("#tap-to-play").hidden = true;
}

function setControlsEnabled(publishing) {
  const hasVideo = state.localStream?.getVideoTracks().length > 0;
  $("#toggle-mic").disabled = !(publishing && state.localStream?.getAudioTracks().length);
  $("#toggle-camera").disabled = !(publishing && hasVideo);
  $("#toggle-camera").hidden = !hasVideo; // nothing to turn on or off
}

const MUTE_CONTROLS = {
  audio: { button: "#toggle-mic", flag: "audioMuted", tracks: "getAudioTracks", on: "visit.mute", off: "visit.unmute" },
  video: { button: "#toggle-camera", flag: "videoMuted", tracks: "getVideoTracks", on: "visit.cameraOff", off: "visit.cameraOn" },
};

// Muting disables the local track (silence or black is sent) and tells the others.
function toggleMute(kind) {
  const control = MUTE_CONTROLS[kind];
  const muted = (state[control.flag] = !state[control.flag]);
  for (const track of state.localStream?.[control.tracks]() ?? []) track.enabled = !muted;
  const button = $(control.button);
  setI18nText(button, muted ? control.off : control.on);
  button.classList.toggle("off", muted);
  button.setAttribute("aria-pressed", String(muted));
  if (kind === "video") $("#self-video").classList.toggle("off", muted);
  state.socket?.send({ type: "mute", [kind]: muted });
  updateCallNote();
}

function updateCallNote() {
  const note = $("#call-note");
  const noCamera = !state.localStream?.getVideoTracks().length || state.videoMuted;
  const text = state.audioMuted ? () => t("visit.youAreMuted") : noCamera ? () => t("visit.noCameraInCall") : "";
  note.hidden = !text;
  say(note, text);
}

function closePeers() {
  for (const id of [...state.subscriptions.keys()]) closeSubscription(id);
  for (const timer of state.pendingSubscribe.values()) clearTimeout(timer);
  state.pendingSubscribe.clear();
  state.publishPc?.close();
  state.publishPc = null;
  state.publishSessionId = null;
  $("#remote-video").srcObject = null;
  $("#others").replaceChildren();
  $("#remote-name").hidden = true;
  updatePlaceholder();
}

function teardownCall() {
  closePeers();
  state.inCall = false;
}

// The room is over for this page: hang up, turn the camera off, let the screen sleep.
function finishRoom() {
  clearTimeout(state.retryTimer);
  state.generation += 1;
  stopHeartbeat();
  teardownCall();
  state.socket?.close();
  state.socket = null;
  setReconnecting(false);
  stopMeter();
  stopLocalMedia();
  for (const video of document.querySelectorAll("video")) video.srcObject = null;
  keepAwake(false);
}

async function keepAwake(on) {
  state.awake = on;
  if (!on) {
    state.wakeLock?.release().catch(() => {});
    state.wakeLock = null;
    return;
  }
  if (state.wakeLock || !navigator.wakeLock || document.visibilityState !== "visible") return;
  try {
    state.wakeLock = await navigator.wakeLock.request("screen");
    state.wakeLock.addEventListener("release", () => { state.wakeLock = null; });
  } catch {
    // Not allowed (battery saver, an old browser): the page says to keep the screen on.
  }
}

// ------------------------------------------------------------------------------------------ step 6: the rating

function showRating() {
  show("rating");
  setStatus("");
  $("#rating-message").hidden = true;
  $("#rating-submit").disabled = false;
}

function chooseScore(button) {
  state.score = Number(button.dataset.score);
  for (const other of document.querySelectorAll("[data-score]")) {
    other.setAttribute("aria-pressed", String(other === button));
  }
  $("#rating-message").hidden = true;
}

async function submitRating() {
  if (!state.score) {
    showMessage("#rating-message", () => t("visit.chooseScore"), "error");
    return;
  }
  const submit = $("#rating-submit");
  submit.disabled = true;
  showMessage("#rating-message", () => t("visit.sending"), "info");
  try {
    await request("POST", visitPath("/rating"), { score: state.score, comment: $("#rating-comment").value.trim() });
  } catch (error) {
    if (error.code === "already_rated") {
      showThanks(true);
      return;
    }
    showMessage("#rating-message", () => errorText(error.code, error.message), "error");
    submit.disabled = false;
    return;
  }
  showThanks(false);
}

function showThanks(alreadyRated) {
  show("thanks");
  setStatus("");
  setI18nText($("#thanks-text"), alreadyRated ? "visit.thanksRated" : "visit.thanksText");
}

// ------------------------------------------------------------------------------------------ start

function retranslate() {
  document.title = `${t("app.title")} · ${t("visit.title")}`;
  for (const [element, render] of spoken) element.textContent = render();
  if (state.visit && !$("#appointment").hidden) fillAppointment();
  if (!$("#devices").hidden) listDevices();
}

function main() {
  applyTranslations();
  installLanguageSwitch($("#lang"));
  document.title = `${t("app.title")} · ${t("visit.title")}`;
  document.addEventListener("languagechange", retranslate);
  $("#loading-retry").addEventListener("click", loadVisit);
  $("#appointment-next").addEventListener("click", next);
  $("#consent-agree").addEventListener("click", () => {
    state.consented = true;
    showDevices();
  });
  $("#consent-decline").addEventListener("click", () => { $("#consent-declined").hidden = false; });
  $("#camera").addEventListener("change", changeDevice);
  $("#microphone").addEventListener("change", changeDevice);
  $("#device-retry").addEventListener("click", checkDevices);
  $("#device-continue").addEventListener("click", () => {
    if (state.localStream?.getAudioTracks().length) enterWaitingRoom();
  });
  $("#toggle-mic").addEventListener("click", () => toggleMute("audio"));
  $("#toggle-camera").addEventListener("click", () => toggleMute("video"));
  $("#tap-to-play").addEventListener("click", playAll);
  $("#remote-video").addEventListener("resize", updatePlaceholder);
  $("#remote-video").addEventListener("loadeddata", updatePlaceholder);
  for (const button of document.querySelectorAll("[data-score]")) {
    button.addEventListener("click", () => chooseScore(button));
  }
  $("#rating-submit").addEventListener("click", submitRating);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.awake) keepAwake(true);
  });
  window.addEventListener("online", () => {
    if (state.reconnecting && !state.ended) connect(0);
  });
  window.addEventListener("pagehide", () => state.socket?.close());
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) location.reload(); // back from the browser's cache: the room connection is gone
  });
  loadVisit();
}

main();
