import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { configurationMarkdown } from '../../scripts/config-table.ts';

const root = join(import.meta.dirname, '../..');

test('docs/configuration.md matches the services’ config specs (run scripts/config-table.ts)', () => {
  assert.equal(readFileSync(join(root, 'docs/configuration.md'), 'utf8'), configurationMarkdown());
});

test('every relative link in README.md and docs/ points at a file that exists', () => {
  const files = [
    'README.md',
    ...[
      'architecture',
      'insights',
      'ingest',
      'processor',
      'api',
      'simulator',
      'deploy',
      'errors',
      'configuration',
      'dashboard',
      'privacy',
      'operations',
      'places',
    ].map((d) => `docs/${d}.md`),
  ];
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const [, target] of text.matchAll(/\]\((?!https?:|#|mailto:)([^)#\s]+)/g)) {
      const path = join(root, file, '..', target as string);
      assert.ok(existsSync(path), `${file} links to missing ${target}`);
    }
  }
});
