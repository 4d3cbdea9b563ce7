// PRIVACY_MODE reaches the processor's aggregator: in dp mode the emitted counts are contribution-bounded
// (packages/domain/test/bounding.test.ts checks the bounding itself).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@footfall/config';
import { loadProcessorConfig } from '../src/index.ts';

test('PRIVACY_MODE and DP_MAX_CELLS_PER_BUCKET are validated processor config', () => {
  assert.equal(loadProcessorConfig({}).privacyMode, 'k-anonymity');
  const dp = loadProcessorConfig({ PRIVACY_MODE: 'dp', DP_MAX_CELLS_PER_BUCKET: '2' });
  assert.equal(dp.privacyMode, 'dp');
  assert.equal(dp.dpMaxCellsPerBucket, 2);
  assert.throws(() => loadProcessorConfig({ PRIVACY_MODE: 'differential' }), ConfigError);
  assert.throws(() => loadProcessorConfig({ PRIVACY_MODE: 'dp', DP_MAX_CELLS_PER_BUCKET: '0' }), ConfigError);
});
