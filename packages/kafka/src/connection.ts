import type { BaseOptions } from '@platformatic/kafka';

/** The connection settings every service's Kafka clients share (see `kafkaAuthSpec`). */
export interface KafkaConnectionConfig {
  kafkaBootstrap: readonly string[];
  kafkaSaslMechanism?: 'none' | 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
  kafkaSaslUsername?: string | undefined;
  kafkaSaslPassword?: string | undefined;
  kafkaTls?: boolean;
}

/**
 * Base client options for @platformatic/kafka from config: bootstrap brokers, and SASL/TLS when the
 * cluster requires them (Strimzi `KafkaUser`s with SCRAM-SHA-512 in deploy/k8s/kafka).
 */
export function kafkaClientOptions(
  config: KafkaConnectionConfig,
  clientId: string,
): Pick<BaseOptions, 'clientId' | 'bootstrapBrokers' | 'sasl' | 'tls'> {
  const options: Pick<BaseOptions, 'clientId' | 'bootstrapBrokers' | 'sasl' | 'tls'> = {
    clientId,
    bootstrapBrokers: [...config.kafkaBootstrap],
  };
  if (config.kafkaSaslMechanism && config.kafkaSaslMechanism !== 'none') {
    options.sasl = {
      mechanism: config.kafkaSaslMechanism,
      username: config.kafkaSaslUsername,
      password: config.kafkaSaslPassword,
    } as BaseOptions['sasl'];
  }
  if (config.kafkaTls) options.tls = {};
  return options;
}
