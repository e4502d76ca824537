// Server-Sent Events read with fetch(), so the request carries the Authorization header (EventSource cannot send
// one, and the alert stream takes no token in its URL: a URL ends up in logs). Parsed as the WHATWG spec says;
// after a drop it reconnects with backoff and sends Last-Event-ID, so the server resends what was missed.

export interface StreamMessage {
  id: string | null;
  event: string;
  data: string;
}

export type StreamState = "connecting" | "open" | "reconnecting" | "forbidden" | "closed";

export interface EventStreamOptions {
  url: string;
  headers: () => Record<string, string>;
  onMessage: (message: StreamMessage) => void;
  onState?: (state: StreamState, detail?: string) => void;
  /** 401: the token is no longer good (expired, revoked). The stream stops. */
  onUnauthorized?: () => void;
  /** Resume after this id (e.g. kept from an earlier page of the same tab). */
  lastEventId?: string | null;
  onLastEventId?: (id: string) => void;
  minDelayMs?: number;
  maxDelayMs?: number;
  /** No byte (not even the server's keep-alive comment, every 15 s) for this long: the connection is dead. */
  idleTimeoutMs?: number;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

export class EventStream {
  lastEventId: string | null;
  state: StreamState = "closed";
  private running = false;
  private readonly stopper = new AbortController();
  private connection: AbortController | null = null;
  private retryMs: number;

  constructor(private readonly options: EventStreamOptions) {
    this.lastEventId = options.lastEventId ?? null;
    this.retryMs = options.minDelayMs ?? 1000;
  }

  start(): void {
    if (this.running || this.stopper.signal.aborted) return;
    this.running = true;
    void this.loop();
  }

  stop(): void {
    this.stopper.abort();
    this.connection?.abort();
    this.running = false;
    this.setState("closed");
  }

  /** Drop the current connection and open a new one at once (resuming from the last id). */
  reconnect(): void {
    this.connection?.abort();
  }

  private setState(state: StreamState, detail?: string): void {
    this.state = state;
    this.options.onState?.(state, detail);
  }

  private async loop(): Promise<void> {
    const stop = this.stopper.signal;
    let failures = 0;
    while (!stop.aborted) {
      this.setState(failures === 0 && this.lastEventId === null ? "connecting" : "reconnecting");
      let wait = Math.min(this.options.maxDelayMs ?? 30000, this.retryMs * 2 ** Math.min(failures, 5));
      const connection = new AbortController();
      this.connection = connection;
      try {
        const headers: Record<string, string> = { Accept: "text/event-stream", ...this.options.headers() };
        if (this.lastEventId !== null) headers["Last-Event-ID"] = this.lastEventId;
        const response = await fetch(this.options.url, {
          headers,
          signal: connection.signal,
          cache: "no-store",
          credentials: "omit",
        });
        if (response.status === 401) {
          this.options.onUnauthorized?.();
          this.stop();
          return;
        }
        if (response.status === 403) {
          this.running = false;
          this.setState("forbidden");
          return;
        }
        if (response.status === 429) {
          wait = Math.max(wait, Number(response.headers.get("retry-after") ?? "5") * 1000);
        } else if (response.ok && response.body) {
          this.setState("open");
          failures = 0;
          wait = this.retryMs;
          await this.read(response.body, connection);
        }
      } catch {
        // network error, or our own abort (a reconnect, the idle watchdog, stop): try again below
      }
      if (stop.aborted) return;
      failures += 1;
      this.setState("reconnecting");
      await sleep(wait * (0.75 + Math.random() * 0.5), stop);
    }
  }

  private async read(body: ReadableStream<Uint8Array>, connection: AbortController): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const idleMs = this.options.idleTimeoutMs ?? 45000;
    let watchdog = setTimeout(() => connection.abort(), idleMs);
    let buffer = "";
    let data: string[] = [];
    let event = "";
    let id: string | null = null;
    const dispatch = () => {
      if (id !== null) {
        this.lastEventId = id;
        this.options.onLastEventId?.(id);
      }
      if (data.length > 0) {
        this.options.onMessage({ id, event: event || "message", data: data.join("\n") });
      }
      data = [];
      event = "";
      id = null;
    };
    const line = (text: string) => {
      if (text === "") return dispatch();
      if (text.startsWith(":")) return; // a comment: the server's keep-alive ping
      const colon = text.indexOf(":");
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? "" : text.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") event = value;
      else if (field === "id" && !value.includes("\0")) id = value;
      else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Math.max(250, Number(value));
    };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        clearTimeout(watchdog);
        watchdog = setTimeout(() => connection.abort(), idleMs);
        buffer += decoder.decode(value, { stream: true });
        // Lines end in \r\n, \n or \r; a \r at the very end may be half of a \r\n still on its way.
        let start = 0;
        for (let i = 0; i < buffer.length; i++) {
          const c = buffer[i];
          if (c === "\n") {
            line(buffer.slice(start, i));
            start = i + 1;
          } else if (c === "\r") {
            if (i + 1 === buffer.length) break;
            line(buffer.slice(start, i));
            if (buffer[i + 1] === "\n") i++;
            start = i + 1;
          }
        }
        buffer = buffer.slice(start);
      }
    } finally {
      clearTimeout(watchdog);
      reader.cancel().catch(() => undefined);
    }
  }
}
