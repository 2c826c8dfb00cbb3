// The live feed of "all my jobs" over /ws (protocol 1): authenticate, subscribe, and after any
// disconnect reconnect and resume from the last cursor, so no event is missed or repeated.

const PROTOCOL = "conveyor.v1";
const PING_EVERY_MS = 20000;
const SILENCE_LIMIT_MS = 50000;
const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];
const CLOSE_UNAUTHORIZED = 4401;

function position(cursor) {
  if (cursor === "0") return [0, 0];
  const match = /^(\d+)-(\d+)$/.exec(cursor || "");
  return match ? [Number(match[1]), Number(match[2])] : null;
}

function after(a, b) {
  return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
}

export class LiveFeed {
  constructor({ token, onEvent, onState, onSubscribed, onUnauthorized }) {
    this.token = token;
    this.onEvent = onEvent;
    this.onState = onState;
    this.onSubscribed = onSubscribed;
    this.onUnauthorized = onUnauthorized;
    this.cursor = null; // the last owner-stream cursor delivered to onEvent
    this.socket = null;
    this.attempt = 0;
    this.stopped = false;
    this.timers = [];
    this.connections = 0;
    this.lastClose = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    this.clearTimers();
    if (this.socket) this.socket.close(1000, "signed out");
    this.socket = null;
    this.setState("offline");
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }

  clearTimers() {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.setState(this.connections === 0 ? "connecting" : "reconnecting");
    const socket = new WebSocket(`${scheme}//${location.host}/ws`, [PROTOCOL]);
    this.socket = socket;
    let lastHeard = Date.now();
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "auth", token: this.token }));
    });
    socket.addEventListener("message", (message) => {
      lastHeard = Date.now();
      this.receive(socket, JSON.parse(message.data));
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket) return;
      this.clearTimers();
      this.socket = null;
      this.lastClose = event.code;
      if (this.stopped) return;
      if (event.code === CLOSE_UNAUTHORIZED) {
        this.setState("offline");
        this.onUnauthorized(event.reason);
        return;
      }
      // 4429 (too slow), 1001 (gateway stopping), 1011, 1006 (network): resume elsewhere or
      // later from the last cursor.
      const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
      this.attempt += 1;
      this.setState("reconnecting");
      setTimeout(() => { if (!this.stopped) this.connect(); }, delay * (0.75 + Math.random() / 2));
    });
    // The server pings too; this notices a dead path from our side (e.g. a sleeping laptop).
    this.timers.push(setInterval(() => {
      if (Date.now() - lastHeard > SILENCE_LIMIT_MS) socket.close(4000, "silent");
      else if (socket.readyState === WebSocket.OPEN) socket.send('{"type":"ping"}');
    }, PING_EVERY_MS));
  }

  receive(socket, message) {
    switch (message.type) {
      case "welcome": {
        const subscribe = { type: "subscribe", all: true };
        if (this.cursor !== null) subscribe.after = this.cursor;
        socket.send(JSON.stringify(subscribe));
        break;
      }
      case "subscribed": {
        const resumed = this.cursor !== null;
        if (this.cursor === null) this.cursor = message.cursor;
        this.attempt = 0;
        this.connections += 1;
        this.setState("live");
        this.onSubscribed({ resumed, cursor: this.cursor });
        break;
      }
      case "event": {
        const at = position(message.cursor);
        const last = position(this.cursor);
        // The server sends each event once per subscription; this guards the promise anyway.
        if (at && last && !after(at, last)) return;
        if (at) this.cursor = message.cursor;
        this.onEvent(message.event, message.cursor);
        break;
      }
      case "error":
        console.warn("live feed:", message.message);
        break;
      default:
        break; // pong, unsubscribed
    }
  }
}
