export { commonSpec, erasureTopicSpec, kafkaAuthSpec, placesTopicSpec, topicSpec } from './common.ts';
export type { ConfigOf, EnvSpec, EnvVar } from './env.ts';
export { ConfigError, loadConfig, v } from './env.ts';
export { assertGroupTimings, groupConsumerSpec } from './group-consumer.ts';
export { assertNodeVersion } from './node-version.ts';
export { privacyModeSpec } from './privacy.ts';
