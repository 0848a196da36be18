// The /ws subscription (SPEC §4): Auth frame, Subscribe with since/epoch, events in seq
// order, ResyncRequired, and reconnection with backoff after a drop.

// Close codes after which reconnecting cannot help: the sign-in is over.
const AUTH_CLOSES = new Set([4001, 4003, 4004, 4005]);

export class Live {
  // handlers: onEvent(ev), onResync(seq, epoch), onStatus('connecting'|'live'|'offline'),
  // onAuthEnd(code)
  constructor(token, clientId, handlers) {
    this.token = token;
    this.clientId = clientId;
    this.h = handlers;
    this.since = 0;
    this.epoch = '';
    this.ws = null;
    this.stopped = false;
    this.attempt = 0;
    this.timer = 0;
    this.status = '';
    this.onOnline = () => { if (!this.ws) this.connectSoon(0); };
    this.onOffline = () => { if (this.ws) this.ws.close(); };
  }

  // start subscribes after seq since of history epoch (a listing's seq and epoch).
  start(since, epoch) {
    this.since = since;
    this.epoch = epoch;
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
  }

  setStatus(s) {
    if (s === this.status) return;
    this.status = s;
    if (this.h.onStatus) this.h.onStatus(s);
  }

  connect() {
    if (this.stopped) return;
    const u = new URL('ws', document.baseURI);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(u);
    } catch {
      this.retry(0);
      return;
    }
    this.ws = ws;
    if (this.status !== 'offline') this.setStatus('connecting');
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: 'Auth', token: this.token }));
      const sub = { type: 'Subscribe', client_id: this.clientId };
      if (this.epoch) {
        sub.since = this.since;
        sub.epoch = this.epoch;
      }
      ws.send(JSON.stringify(sub));
    };
    ws.onmessage = (m) => {
      if (typeof m.data !== 'string') return;
      for (const line of m.data.split('\n')) {
        if (line.trim() === '') continue;
        let msg;
        try { msg = JSON.parse(line); } catch { continue; }
        this.handle(msg);
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (AUTH_CLOSES.has(ev.code)) {
        this.stopped = true;
        if (this.h.onAuthEnd) this.h.onAuthEnd(ev.code);
        return;
      }
      this.setStatus('offline');
      this.retry(ev.code);
    };
  }

  handle(msg) {
    switch (msg.type) {
      case 'Ack':
        if (msg.operation_id === 'subscribe') {
          this.attempt = 0;
          if (!this.epoch) {
            this.epoch = msg.epoch;
            this.since = msg.seq;
          }
          this.setStatus('live');
        }
        break;
      case 'FileOperation':
        if (typeof msg.seq === 'number' && msg.seq <= this.since) return; // already seen
        this.since = msg.seq;
        if (this.h.onEvent) this.h.onEvent(msg);
        break;
      case 'ResyncRequired':
        this.since = msg.seq;
        this.epoch = msg.epoch;
        if (this.h.onResync) this.h.onResync(msg.seq, msg.epoch);
        break;
      default:
        break;
    }
  }

  // retry reconnects with exponential backoff and jitter (capped at 30 s); after a
  // server restart (1001, 1012) about every second.
  retry(code) {
    let delay;
    if (code === 1001 || code === 1012) {
      delay = 1000 + Math.random() * 500;
    } else {
      delay = Math.min(30000, 500 * 2 ** this.attempt) * (0.5 + Math.random() * 0.5);
    }
    this.attempt++;
    this.connectSoon(delay);
  }

  connectSoon(delay) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
