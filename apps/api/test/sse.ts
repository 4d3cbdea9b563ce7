// Test helper: a Server-Sent Events client over fetch that records every event (and the raw text).

export interface SseEvent {
  event: string;
  // biome-ignore lint/suspicious/noExplicitAny: test payloads are checked field by field
  data: any;
}

export interface SseStream {
  readonly status: number;
  readonly contentType: string;
  readonly events: SseEvent[];
  /** Everything received so far, as text. */
  raw(): string;
  /** Aborts the request and waits for the reader to finish. */
  close(): Promise<void>;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal, headers });
  const events: SseEvent[] = [];
  let raw = '';
  let buffer = '';
  const reader = res.body?.pipeThrough(new TextDecoderStream()).getReader();
  const pump = (async () => {
    if (!reader) return;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      raw += value;
      buffer += value;
      let i = buffer.indexOf('\n\n');
      while (i >= 0) {
        const chunk = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        const event = /^event: (.*)$/m.exec(chunk)?.[1];
        const data = /^data: (.*)$/m.exec(chunk)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
        i = buffer.indexOf('\n\n');
      }
    }
  })().catch(() => {});
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    events,
    raw: () => raw,
    close: async () => {
      controller.abort();
      await pump;
    },
  };
}
