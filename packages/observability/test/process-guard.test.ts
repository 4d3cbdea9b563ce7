import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/guarded.ts', import.meta.url));

async function run(mode: string, signal?: NodeJS.Signals) {
  const child = spawn(process.execPath, [fixture, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (signal && out.includes('"started"')) child.kill(signal);
  });
  const [code] = await once(child, 'exit');
  const lines = out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { level: string; msg: string; err?: { message: string } });
  return { code: code as number | null, lines };
}

for (const [mode, message] of [
  ['throw', 'boom from a timer'],
  ['reject', 'boom from a promise'],
] as const) {
  test(`an ${mode === 'throw' ? 'uncaught exception' : 'unhandled rejection'} is logged, closes and exits 1`, async () => {
    const { code, lines } = await run(mode);
    assert.equal(code, 1);
    const fatal = lines.find((l) => l.level === 'fatal');
    assert.equal(fatal?.err?.message, message);
    assert.ok(
      lines.some((l) => l.msg === 'closed'),
      'close() ran',
    );
  });
}

test('a designed fatal exit logs the reason, closes and exits 1', async () => {
  const { code, lines } = await run('fatal');
  assert.equal(code, 1);
  assert.ok(lines.some((l) => l.level === 'fatal' && l.msg.startsWith('SINK_CONSUMER_FAILED')));
  assert.ok(lines.some((l) => l.msg === 'closed'));
});

test('SIGTERM drains and exits 0', async () => {
  const { code, lines } = await run('idle', 'SIGTERM');
  assert.equal(code, 0);
  assert.ok(lines.some((l) => l.msg === 'closed'));
});
