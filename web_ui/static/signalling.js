// The room socket: JSON requests with request ids, and room events pushed by the server.

export class RoomSocket extends EventTarget {
  constructor(roomId, token) {
    super();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.url = `${scheme}//${location.host}/ws/rooms/${encodeURIComponent(roomId)}?token=${encodeURIComponent(token)}`;
    this.pending = new Map();
    this.nextId = 1;
    this.socket = null;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url);
      this.socket = socket;
      let welcomed = false;
      socket.addEventListener("message", (event) => {
        const message = JSON.parse(event.data);
        if (message.type === "welcome") {
          welcomed = true;
          resolve(message);
          return;
        }
        if (message.request_id !== undefined && this.pending.has(message.request_id)) {
          const { resolve: done, reject: fail } = this.pending.get(message.request_id);
          this.pending.delete(message.request_id);
          if (message.type === "error") fail(Object.assign(new Error(message.message), { code: message.code }));
          else done(message);
          return;
        }
        if (message.type === "error" && !welcomed) {
          reject(Object.assign(new Error(message.message), { code: message.code }));
          return;
        }
        this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
      });
      socket.addEventListener("close", (event) => {
        for (const { reject: fail } of this.pending.values()) fail(new Error("socket closed"));
        this.pending.clear();
        if (!welcomed) reject(Object.assign(new Error("socket closed"), { code: `close_${event.code}` }));
        this.dispatchEvent(new CustomEvent("closed", { detail: { code: event.code, reason: event.reason } }));
      });
    });
  }

  request(message) {
    const requestId = this.nextId++;
    if (this.socket?.readyState !== WebSocket.OPEN) {
      return Promise.reject(Object.assign(new Error("socket closed"), { code: "socket_closed" }));
    }
    return new Promise((resolve, reject) => {
      this.pending.set(requestId, { resolve, reject });
      this.socket.send(JSON.stringify({ ...message, request_id: requestId }));
    });
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  close() {
    this.send({ type: "leave" });
    this.socket?.close();
  }
}

// The server answers once it has all our candidates: gather them before sending the offer.
export function gatheringComplete(pc, timeoutMs = 3000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

export function iceServersFrom(response) {
  // RFC 9725: ICE servers come as Link headers: <turn:host>; rel="ice-server"; username="u"; credential="c"
  const links = response.headers.get("Link");
  if (!links) return [];
  return links.split(/,(?=\s*<)/).flatMap((link) => {
    const url = link.match(/<([^>]+)>/)?.[1];
    if (!url || !/rel="ice-server"/.test(link)) return [];
    const username = link.match(/username="([^"]*)"/)?.[1];
    const credential = link.match(/credential="([^"]*)"/)?.[1];
    return [{ urls: url, ...(username ? { username, credential } : {}) }];
  });
}

export function iceConfiguration(servers) {
  return { iceServers: (servers || []).map((s) => ({ urls: s.urls, username: s.username, credential: s.credential })) };
}
