// Device command line, on top of the SDK:
//   node apps/ingest/src/cli.ts enroll --target host:port [--platform dev] [--out device.json]
//   node apps/ingest/src/cli.ts upload --target host:port --identity device.json [--count 10]
//        [--lat 52.52 --lon 13.405] [--file pings.json]
//   Negative numbers need the `=` form: --lon=-9.14.
// Prints JSON results on stdout; exits 1 with the gRPC status on failure.

import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { DeviceClient, DeviceClientError, type DeviceIdentity, type PingInput } from './sdk/index.ts';

const usage =
  'usage: cli.ts enroll|upload --target host:port [options] (see the header of apps/ingest/src/cli.ts)';

function parseCommandLine() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        target: { type: 'string', default: '127.0.0.1:50051' },
        platform: { type: 'string', default: 'dev' },
        'install-id': { type: 'string' },
        out: { type: 'string' },
        identity: { type: 'string' },
        count: { type: 'string', default: '10' },
        lat: { type: 'string', default: '52.5200' },
        lon: { type: 'string', default: '13.4050' },
        file: { type: 'string' },
      },
    });
  } catch (error) {
    // A bad flag is the user's mistake: say what and how, not a stack trace.
    console.error(`${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
}

const { positionals, values } = parseCommandLine();

async function main(): Promise<void> {
  const command = positionals[0];
  if (command === 'enroll') {
    const client = new DeviceClient({ target: values.target as string });
    try {
      const id = await client.enroll({ platform: values.platform, installId: values['install-id'] });
      const json = JSON.stringify(
        {
          deviceId: id.deviceId,
          deviceSecret: Buffer.from(id.deviceSecret).toString('base64'),
          userToken: id.userToken,
        },
        null,
        2,
      );
      if (values.out) await writeFile(values.out, `${json}\n`, { mode: 0o600 });
      console.log(json);
    } finally {
      client.close();
    }
  } else if (command === 'upload') {
    if (!values.identity) throw new Error('--identity <file written by `enroll --out`> is required');
    const raw = JSON.parse(await readFile(values.identity, 'utf8')) as Record<string, string>;
    const identity: DeviceIdentity = {
      deviceId: String(raw.deviceId),
      deviceSecret: Buffer.from(String(raw.deviceSecret), 'base64'),
      userToken: String(raw.userToken),
    };
    let pings: PingInput[];
    if (values.file) pings = JSON.parse(await readFile(values.file, 'utf8')) as PingInput[];
    else {
      const now = Date.now();
      const [lat, lon] = [Number(values.lat), Number(values.lon)];
      pings = Array.from({ length: Number(values.count) }, (_, i) => ({
        eventTimeMs: now - (Number(values.count) - i) * 1_000,
        latitude: lat + (Math.random() - 0.5) * 1e-4,
        longitude: lon + (Math.random() - 0.5) * 1e-4,
        accuracyM: 10,
      }));
    }
    const client = new DeviceClient({ target: values.target as string, identity });
    try {
      console.log(JSON.stringify(await client.upload(pings), null, 2));
    } finally {
      client.close();
    }
  } else {
    console.error(usage);
    process.exitCode = 2;
  }
}

main().catch((error: unknown) => {
  if (error instanceof DeviceClientError)
    console.error(`failed: status ${error.code} ${error.errorCode ?? ''} ${error.message}`);
  else console.error(error);
  process.exitCode = 1;
});
