/**
 * Footfall needs Node.js 24 (Kafka client, type stripping). The repo pins it as the npm package
 * `node`, so `npm run …` and `npm test` use it; running a file with an older system `node` directly
 * fails here with instructions instead of an obscure error later.
 */
export function assertNodeVersion(required = 24): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < required) {
    console.error(
      `Footfall needs Node.js ${required}+, but this is ${process.version} (${process.execPath}).\n` +
        `Run it through npm (\`npm start\`, \`npm test\`), which uses the Node ${required} pinned in ` +
        `node_modules/.bin, or run ./node_modules/.bin/node directly. Did you run \`npm ci\`?`,
    );
    process.exit(1);
  }
}
