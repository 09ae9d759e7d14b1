// The wall's live socket (/ws/cameras): camera status and motion news, reconnecting with backoff.
// The sign-in cookie authenticates it; every (re)connection starts with a fresh "hello" with all cameras.

const RECONNECT_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];
// The server closes with these when waiting will not help: signed out (4401), not allowed (4403).
const PERMANENT_CLOSES = new Set([4401, 4403]);

export class CameraSocket extends EventTarget {
  constructor() {
    super();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.url = `${scheme}//${location.host}/ws/cameras`;
    this.socket = null;
    this.attempt = 0;
    this.closed = false;
    this.timer = null;
  }

  connect() {
    this.closed = false;
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === "hello") {
        this.attempt = 0;
        this.dispatchEvent(new CustomEvent("open"));
      }
      this.dispatchEvent(new CustomEvent("message", { detail: message }));
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket || this.closed) return;
      if (PERMANENT_CLOSES.has(event.code)) {
        this.closed = true;
        this.dispatchEvent(new CustomEvent("refused", { detail: { code: event.code, reason: event.reason } }));
        return;
      }
      const delay = RECONNECT_DELAYS_MS[Math.min(this.attempt, RECONNECT_DELAYS_MS.length - 1)];
      this.attempt += 1;
      this.dispatchEvent(new CustomEvent("lost", { detail: { code: event.code, retryInMs: delay } }));
      this.timer = setTimeout(() => this.connect(), delay);
    });
  }

  /** Try again now (the page came back to the front, the network returned). */
  reconnectSoon() {
    if (this.closed || this.socket?.readyState === WebSocket.OPEN || this.socket?.readyState === WebSocket.CONNECTING) return;
    clearTimeout(this.timer);
    this.connect();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.socket?.close();
  }
}
