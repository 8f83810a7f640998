// The WebSocket feed: authenticates with the session, subscribes to what the page
// shows, and reconnects by itself (with backoff) when the connection drops.

import { API, session } from "./api.js";

const RECONNECT_DELAYS_MS = [500, 1000, 2000, 5000, 10000];

export class Feed {
  constructor(onMessage) {
    this.onMessage = onMessage;
    this.channels = new Set();
    this.private = new Set();
    this.failures = 0;
    this.socket = null;
    this.closed = false;
  }

  follow(publicChannels, privateChannels = []) {
    this.channels = new Set(publicChannels);
    this.private = new Set(session.token ? privateChannels : []);
    this.reconnect();
  }

  reconnect() {
    this.closed = false;
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close();
    }
    const socket = new WebSocket(`${API.replace(/^http/, "ws")}/v1/ws`);
    this.socket = socket;
    socket.onopen = () => {
      this.failures = 0;
      if (this.private.size) socket.send(JSON.stringify({ op: "auth", token: session.token }));
      if (this.channels.size) {
        socket.send(JSON.stringify({ op: "subscribe", channels: [...this.channels] }));
      }
    };
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "authenticated") {
        socket.send(JSON.stringify({ op: "subscribe", channels: [...this.private] }));
      }
      this.onMessage(message);
    };
    socket.onclose = () => {
      if (this.closed || this.socket !== socket) return;
      const delay = RECONNECT_DELAYS_MS[Math.min(this.failures, RECONNECT_DELAYS_MS.length - 1)];
      this.failures += 1;
      setTimeout(() => { if (this.socket === socket && !this.closed) this.reconnect(); }, delay);
    };
  }

  close() {
    this.closed = true;
    if (this.socket) this.socket.close();
  }
}
