import { monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * CPU admission: refuses new uploads while the event loop runs late. The in-flight limits bound memory,
 * but a process that is out of CPU runs every call late, including its refusals, so clients pass their
 * deadlines and cancel; cancelled streams pile up in HTTP/2 until Node resets new ones
 * (ENHANCE_YOUR_CALM) and then the whole connection (INTERNAL), none of it with a status or a retry hint
 * from the service (issue 20 item 5). Refusing before decoding costs a fraction of accepting, so shedding
 * while the loop is late keeps the loop on time and every answer a status from the handler.
 *
 * The signal: the mean event-loop delay over the last window (perf_hooks histogram, reset each window).
 * `maxDelayMs` 0 disables it.
 */
export class EventLoopShedder {
  readonly #maxDelayNs: number;
  readonly #histogram: ReturnType<typeof monitorEventLoopDelay> | undefined;
  readonly #timer: NodeJS.Timeout | undefined;
  #late = false;
  #lastDelayMs = 0;

  constructor(options: { maxDelayMs: number; windowMs?: number }) {
    this.#maxDelayNs = options.maxDelayMs * 1e6;
    if (options.maxDelayMs <= 0) return;
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
    this.#histogram = histogram;
    this.#timer = setInterval(() => {
      // No samples in the window means the timer itself was starved: late by definition.
      const mean = histogram.count > 0 ? histogram.mean : Number.POSITIVE_INFINITY;
      this.#lastDelayMs = mean / 1e6;
      this.#late = mean > this.#maxDelayNs;
      histogram.reset();
    }, options.windowMs ?? 250);
    this.#timer.unref();
  }

  /** True while the last window's mean event-loop delay exceeded the limit. */
  get late(): boolean {
    return this.#late;
  }

  /** Mean event-loop delay of the last window, ms (for the refusal message). */
  get lastDelayMs(): number {
    return this.#lastDelayMs;
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#histogram?.disable();
  }
}
