import { type Logger, pino } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout (one object per line), with the service name on every line. */
export function createLogger(service: string, level = 'info'): Logger {
  return pino({
    name: service,
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
