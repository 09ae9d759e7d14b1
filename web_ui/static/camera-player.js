// One camera stream in one <video>, over WHEP with the session cookie: start, stop, and recover by itself.
//
// The server forwards the camera's H.264 as it comes, so a new viewer sees nothing until the camera's
// next keyframe (up to ~2 s): the player says "connecting" until the first frame is on screen. When the
// camera drops, the session stays and frames resume when it is back; a failed peer connection, or a
// picture frozen long after the camera came back, gets a new session.
import { csrfToken } from "/static/api.js";
import { gatheringComplete, iceServersFrom } from "/static/signalling.js";

const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];
const STALLED_AFTER_MS = 4000; // no new frame for this long: say so on the picture
const RESTART_AFTER_MS = 15000; // ...and for this long while the camera is up: start a new session
const DISCONNECTED_GRACE_MS = 6000; // "disconnected" often heals by itself; "failed" never does
// Waiting will not cure these: stop and let the page say why.
const PERMANENT_ERRORS = new Set(["not_authenticated", "invalid_token", "forbidden", "camera_not_found", "stream_not_available"]);

/**
 * States, reported through onstate(state, detail):
 *   idle        not started (or stopped)
 *   connecting  negotiating, or waiting for the first keyframe
 *   playing     frames arriving
 *   stalled     no frame for a few seconds (the camera dropped, or the network)
 *   retrying    the session failed; a new one follows shortly (detail: error code)
 *   blocked     the browser refused to play (detail: null); call play() from a tap
 *   failed      a permanent error (detail: error code); not retried
 */
export class CameraPlayer {
  constructor(video, cameraId, stream, { onstate = () => {}, cameraOnline = () => true } = {}) {
    this.video = video;
    this.cameraId = cameraId;
    this.stream = stream;
    this.onstate = onstate;
    this.cameraOnline = cameraOnline;
    this.state = "idle";
    this.pc = null;
    this.resource = null;
    this.attempt = 0;
    this.running = false;
    this.retryTimer = null;
    this.watchdog = null;
    this.disconnectedTimer = null;
    this.lastFrameAt = 0;
    this.frames = 0;
    this.generation = 0; // bumps on every (re)start, so a late answer from an old attempt is dropped
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    this.watchdog = setInterval(() => this.checkFrames(), 1000);
    this.connect();
  }

  stop({ leaving = false } = {}) {
    this.running = false;
    clearInterval(this.watchdog);
    clearTimeout(this.retryTimer);
    this.teardown(leaving);
    this.video.srcObject = null;
    this.setState("idle");
  }

  /** From a tap, when the browser would not start the picture by itself. */
  play() {
    this.video.play().then(() => {
      if (this.state === "blocked") this.setState(this.frames > 0 ? "playing" : "connecting");
    }).catch(() => {});
  }

  setState(state, detail = null) {
    if (this.state === state && this.detail === detail) return;
    this.state = state;
    this.detail = detail;
    this.onstate(state, detail);
  }

  teardown(leaving = false) {
    this.generation += 1;
    clearTimeout(this.disconnectedTimer);
    const pc = this.pc;
    const resource = this.resource;
    this.pc = null;
    this.resource = null;
    if (!resource) {
      pc?.close();
      return;
    }
    // End the session before closing the connection: a closed connection ends it on the server too, but
    // only DELETE says who stopped watching (the audit). keepalive: it must outlive a page that is going.
    const ended = fetch(resource, {
      method: "DELETE", credentials: "same-origin", keepalive: leaving, headers: { "X-CSRF-Token": csrfToken() },
    }).catch(() => {});
    const patience = new Promise((resolve) => setTimeout(resolve, 2000));
    Promise.race([ended, patience]).then(() => pc?.close());
  }

  async connect() {
    const generation = ++this.generation;
    this.frames = 0;
    this.setState("connecting");
    const pc = new RTCPeerConnection();
    this.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addEventListener("track", ({ streams, track }) => {
      this.video.srcObject = streams[0] ?? new MediaStream([track]);
      this.video.muted = true; // cameras here send no sound; muted pictures may play without a tap
      this.video.play().catch((error) => {
        // NotAllowedError: the browser wants a tap first. (An AbortError only means a newer picture came.)
        if (error.name === "NotAllowedError" && this.pc === pc) this.setState("blocked");
      });
      this.watchFrames(pc);
    });
    pc.addEventListener("connectionstatechange", () => this.connectionChanged(pc));
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await gatheringComplete(pc);
      if (generation !== this.generation) return;
      const response = await fetch(`/whep/cameras/${this.cameraId}?stream=${this.stream}`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/sdp", "X-CSRF-Token": csrfToken() },
        body: pc.localDescription.sdp,
      });
      if (response.status !== 201) {
        const body = await response.json().catch(() => ({}));
        throw Object.assign(new Error(body.message || response.statusText), {
          code: body.error || `http_${response.status}`,
        });
      }
      const resource = response.headers.get("Location");
      if (generation !== this.generation) {
        // Stopped while the offer was in flight: end the session we were just given.
        fetch(resource, { method: "DELETE", credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() } }).catch(() => {});
        return;
      }
      this.resource = resource;
      const servers = iceServersFrom(response);
      if (servers.length) pc.setConfiguration({ iceServers: servers });
      await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
    } catch (error) {
      if (generation !== this.generation) return;
      const code = error.code || "network";
      if (PERMANENT_ERRORS.has(code)) {
        this.running = false;
        clearInterval(this.watchdog);
        this.teardown();
        this.setState("failed", code);
        return;
      }
      this.retry(code);
    }
  }

  connectionChanged(pc) {
    if (pc !== this.pc) return;
    clearTimeout(this.disconnectedTimer);
    if (pc.connectionState === "connected") this.attempt = 0;
    if (pc.connectionState === "failed") this.retry("negotiation_failed");
    if (pc.connectionState === "disconnected") {
      this.disconnectedTimer = setTimeout(() => pc === this.pc && this.retry("network"), DISCONNECTED_GRACE_MS);
    }
  }

  watchFrames(pc) {
    const video = this.video;
    const seen = () => {
      if (pc !== this.pc) return;
      this.frames += 1;
      this.lastFrameAt = performance.now();
      if (this.state !== "playing" && this.state !== "blocked") this.setState("playing");
    };
    if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
      const next = () => video.requestVideoFrameCallback(() => { seen(); if (pc === this.pc) next(); });
      next();
    } else {
      this.lastFrameCount = 0;
      this.countFrames = () => {
        const count = video.getVideoPlaybackQuality?.().totalVideoFrames ?? 0;
        if (count > this.lastFrameCount) { this.lastFrameCount = count; seen(); }
      };
    }
  }

  checkFrames() {
    if (!this.running || !this.pc) return;
    this.countFrames?.();
    if (this.state !== "playing" && this.state !== "stalled") return;
    const quiet = performance.now() - this.lastFrameAt;
    if (quiet > RESTART_AFTER_MS && this.cameraOnline()) this.retry("stalled");
    else if (quiet > STALLED_AFTER_MS) this.setState("stalled");
  }

  retry(code) {
    if (!this.running) return;
    this.teardown();
    this.setState("retrying", code);
    const delay = RETRY_DELAYS_MS[Math.min(this.attempt, RETRY_DELAYS_MS.length - 1)];
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.running && this.connect(), delay);
  }
}
