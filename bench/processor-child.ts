// The processor as the benchmark runs it: the real service (env config), plus an IPC channel on which
// `measure` answers the heap and RSS after two full GCs (needs --expose-gc), so that state size is
// measured as live objects, not as whatever garbage the last GC left.
import { loadProcessorConfig, startProcessor } from '@footfall/processor';

const gc = (globalThis as { gc?: () => void }).gc;
const handle = await startProcessor(loadProcessorConfig());
process.on('message', (message: unknown) => {
  if (message !== 'measure') return;
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  const devices = Object.values(handle.processor.stats()).reduce((n, s) => n + s.devices, 0);
  process.send?.({ heapUsed: m.heapUsed, rss: m.rss, devices, gc: gc !== undefined });
});
process.on('SIGTERM', () => {
  void handle.close().finally(() => process.exit(0));
});
