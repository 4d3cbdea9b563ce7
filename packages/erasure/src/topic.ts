import { footfallTopics, TOPIC_ERASURES, type TopicSpec } from '@footfall/kafka';

export { TOPIC_ERASURES };

/**
 * The erasure log's topic spec (one partition, `cleanup.policy=compact`: the latest record per device is
 * kept forever, so a reader starting from the beginning sees every erasure ever made), under `name`.
 */
export function erasuresTopicSpec(name: string = TOPIC_ERASURES): TopicSpec {
  const spec = footfallTopics(1).find((t) => t.name === TOPIC_ERASURES) as TopicSpec;
  return { ...spec, name };
}
