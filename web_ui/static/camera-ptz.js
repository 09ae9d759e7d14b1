// Pan, tilt and zoom while a button or an arrow key is held.
//
// Every move carries a safety timeout and is re-sent while held, so a camera never keeps turning after a
// lost "stop" (a closed laptop lid, a dropped network). Commands go out one after another: a "stop" may
// never overtake the "move" before it on a separate connection.
import { api } from "/static/api.js";

const SAFETY_TIMEOUT_S = 1.0;
const RESEND_MS = 600;
const KEY_DIRECTIONS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
const ZOOM_KEYS = { "+": 1, "=": 1, "-": -1, _: -1 };

export class PtzControl {
  constructor({ onerror = () => {} } = {}) {
    this.cameraId = null;
    this.speed = 0.5;
    this.onerror = onerror;
    this.queue = Promise.resolve();
    this.held = null;
    this.resendTimer = null;
    this.movePending = false;
  }

  send(action, body) {
    const cameraId = this.cameraId;
    if (cameraId === null) return this.queue;
    this.queue = this.queue
      .then(() => api("POST", `/api/cameras/${cameraId}/ptz/${action}`, body))
      .catch((error) => this.onerror(error));
    return this.queue;
  }

  /** Start (or change) a move: each of pan, tilt, zoom is -1, 0 or 1, scaled by the chosen speed. */
  hold(pan, tilt, zoom = 0) {
    if (!pan && !tilt && !zoom) return this.release();
    const same = this.held && this.held.pan === pan && this.held.tilt === tilt && this.held.zoom === zoom;
    if (same) return this.queue;
    this.held = { pan, tilt, zoom };
    clearInterval(this.resendTimer);
    this.resendTimer = setInterval(() => this.move(), RESEND_MS);
    return this.move(true);
  }

  move(changed = false) {
    if (!this.held || (this.movePending && !changed)) return this.queue; // a slow network: no pile-up
    const { pan, tilt, zoom } = this.held;
    const speed = this.speed;
    this.movePending = true;
    const sent = this.send("move", { pan: pan * speed, tilt: tilt * speed, zoom: zoom * speed, timeout: SAFETY_TIMEOUT_S });
    sent.finally(() => { this.movePending = false; });
    return sent;
  }

  release() {
    clearInterval(this.resendTimer);
    this.resendTimer = null;
    if (!this.held) return this.queue;
    this.held = null;
    return this.send("stop");
  }

  home() {
    clearInterval(this.resendTimer);
    this.held = null;
    return this.send("home");
  }

  /** Switch to another camera (or none): whatever was moving stops first. */
  use(cameraId) {
    if (cameraId === this.cameraId) return;
    this.release();
    this.cameraId = cameraId;
  }
}

/** Buttons with data-pan / data-tilt / data-zoom move while pressed (pointer, touch, Enter or Space). */
export function bindPad(root, control) {
  for (const button of root.querySelectorAll("[data-ptz]")) {
    const direction = () => [Number(button.dataset.pan || 0), Number(button.dataset.tilt || 0), Number(button.dataset.zoom || 0)];
    button.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      event.preventDefault();
      button.setPointerCapture?.(event.pointerId);
      button.classList.add("held");
      control.hold(...direction());
    });
    const letGo = () => {
      if (!button.classList.contains("held")) return;
      button.classList.remove("held");
      control.release();
    };
    for (const type of ["pointerup", "pointercancel", "lostpointercapture", "pointerleave"]) button.addEventListener(type, letGo);
    button.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" && event.key !== " ") return;
      event.preventDefault();
      if (event.repeat) return;
      button.classList.add("held");
      control.hold(...direction());
    });
    button.addEventListener("keyup", (event) => {
      if (event.key === "Enter" || event.key === " ") letGo();
    });
    button.addEventListener("blur", letGo);
    button.addEventListener("contextmenu", (event) => event.preventDefault()); // a long press on a phone
  }
}

/** Arrow keys turn the camera while held on `element`; + and - zoom; Home goes home. */
export function bindKeys(element, control) {
  const down = new Set();
  const apply = () => {
    let pan = 0;
    let tilt = 0;
    let zoom = 0;
    for (const key of down) {
      if (key in KEY_DIRECTIONS) {
        pan += KEY_DIRECTIONS[key][0];
        tilt += KEY_DIRECTIONS[key][1];
      } else {
        zoom += ZOOM_KEYS[key];
      }
    }
    control.hold(Math.sign(pan), Math.sign(tilt), Math.sign(zoom));
  };
  element.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "Home") {
      event.preventDefault();
      down.clear();
      control.home();
      return;
    }
    if (!(event.key in KEY_DIRECTIONS) && !(event.key in ZOOM_KEYS)) return;
    event.preventDefault(); // no page scrolling under the operator's hand
    if (event.repeat || down.has(event.key)) return;
    down.add(event.key);
    apply();
  });
  element.addEventListener("keyup", (event) => {
    if (!down.delete(event.key)) return;
    event.preventDefault();
    apply();
  });
  element.addEventListener("blur", () => {
    if (!down.size) return;
    down.clear();
    control.release();
  });
}
