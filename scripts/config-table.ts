// Prints docs/configuration.md from the services' config specs (the single source of truth), so the
// table cannot drift: `node scripts/config-table.ts > docs/configuration.md`; a test compares them.
import { hostname } from 'node:os';
import { alertsSpec } from '@footfall/alerts-service';
import { apiSpec } from '@footfall/api';
import type { EnvSpec } from '@footfall/config';
import { ingestSpec } from '@footfall/ingest';
import { processorSpec } from '@footfall/processor';
import { sinkSpec } from '@footfall/sink';

const services: Record<string, EnvSpec> = {
  ingest: ingestSpec,
  processor: processorSpec,
  sink: sinkSpec,
  api: apiSpec,
  alerts: alertsSpec,
};

export function configurationMarkdown(): string {
  const rows = new Map<string, { doc: string; def: unknown; users: string[] }>();
  for (const [service, spec] of Object.entries(services)) {
    for (const variable of Object.values(spec)) {
      const row = rows.get(variable.env) ?? { doc: variable.doc, def: variable.default, users: [] };
      row.users.push(service);
      rows.set(variable.env, row);
    }
  }
  // A default computed from the machine (INSTANCE_ID = hostname) is named, not printed.
  const fmt = (value: unknown) =>
    value === undefined
      ? '–'
      : value === hostname()
        ? '(hostname)'
        : `\`${Array.isArray(value) ? value.join(',') : String(value)}\``;
  const lines = [
    '# Configuration',
    '',
    'Every service reads environment variables only; each is validated at start-up and a bad value stops',
    'the service with a message naming the variable. Generated from the config specs by',
    '`node scripts/config-table.ts` (a test keeps this file in sync).',
    '',
    '| variable | default | used by | meaning |',
    '|---|---|---|---|',
  ];
  for (const [env, row] of [...rows].sort(([a], [b]) => a.localeCompare(b))) {
    const users = row.users.length === Object.keys(services).length ? 'all' : row.users.join(', ');
    lines.push(`| \`${env}\` | ${fmt(row.def)} | ${users} | ${row.doc.replaceAll('|', '\\|')} |`);
  }
  return `${lines.join('\n')}\n`;
}

if (import.meta.main) process.stdout.write(configurationMarkdown());
