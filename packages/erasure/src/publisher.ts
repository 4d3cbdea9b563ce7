import { type KafkaConnectionConfig, kafkaClientOptions } from '@footfall/kafka';
import { Producer } from '@platformatic/kafka';
import { ErasureError } from './errors.ts';
import { type Erasure, encodeErasure } from './record.ts';
import { TOPIC_ERASURES } from './topic.ts';

export interface ErasurePublisherOptions {
  connection: KafkaConnectionConfig;
  /** Topic of the erasure log; default `erasures`. */
  topic?: string;
  clientId?: string;
}

/**
 * Writes erasures to the compacted erasure log. Written by the API *after* the PostgreSQL erasure
 * commits (the database is the system of record; the log is how every other service learns of it), with
 * acks=all and an idempotent producer, so an acknowledged erasure survives a broker loss and is never
 * duplicated by a retry. Publishing the same device twice is harmless (compaction keeps the latest).
 */
export class ErasurePublisher {
  readonly topic: string;
  readonly #producer: Producer;
  #closed = false;

  constructor(options: ErasurePublisherOptions) {
    this.topic = options.topic ?? TOPIC_ERASURES;
    this.#producer = new Producer({
      ...kafkaClientOptions(options.connection, options.clientId ?? 'footfall-erasure-publisher'),
      idempotent: true,
      acks: -1,
      retries: 3,
      retryDelay: 250,
    });
  }

  /** Resolves once the broker acknowledged every erasure (all in-sync replicas). */
  async publish(erasures: readonly Erasure[]): Promise<void> {
    if (this.#closed) throw new ErasureError('ERASURE_CLOSED', 'publisher closed');
    if (erasures.length === 0) return;
    try {
      await this.#producer.send({
        messages: erasures.map((e) => ({ topic: this.topic, ...encodeErasure(e) })),
      });
    } catch (error) {
      throw new ErasureError('ERASURE_PUBLISH_FAILED', `erasure not acknowledged by Kafka`, {
        cause: error,
      });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#producer.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
