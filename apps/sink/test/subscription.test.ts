import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthenticationError, MultipleErrors, NetworkError, ProtocolError } from '@platformatic/kafka';
import { isBrokerUnreachable, isFatalKafkaError } from '../src/subscription.ts';

test('which consumer failures re-subscribe and which exit', () => {
  const outage = new MultipleErrors('fetch failed 4 times.', [new NetworkError('Connection closed')]);
  assert.equal(isFatalKafkaError(outage), false, 'a broker outage is retried');
  assert.equal(isBrokerUnreachable(outage), true);
  const rejoin = new ProtocolError('REBALANCE_IN_PROGRESS');
  assert.equal(isFatalKafkaError(rejoin), false);
  assert.equal(isBrokerUnreachable(rejoin), false, 'the broker answered');
  assert.equal(isFatalKafkaError(new AuthenticationError('SASL authentication failed')), true);
  assert.equal(
    isFatalKafkaError(new MultipleErrors('x', [new ProtocolError('TOPIC_AUTHORIZATION_FAILED')])),
    true,
  );
  assert.equal(
    isFatalKafkaError(new Error('x', { cause: new ProtocolError('GROUP_AUTHORIZATION_FAILED') })),
    true,
  );
});
