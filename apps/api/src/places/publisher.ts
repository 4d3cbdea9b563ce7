import { PlaceDefinition } from '@footfall/contracts';
import { type KafkaConnectionConfig, kafkaClientOptions } from '@footfall/kafka';
import { Producer } from '@platformatic/kafka';

/** A place as published on the `places` topic (docs/places.md). */
export type PublishedPlace = PlaceDefinition;

/**
 * Writes place definitions to the compacted `places` topic: key = place id, value = PlaceDefinition,
 * a tombstone (null value) on delete. acks=all and an idempotent producer, like the erasure log: an
 * acknowledged definition survives a broker loss and a retry never duplicates it (and compaction keeps
 * only the latest per place anyway).
 */
export class PlacePublisher {
  readonly topic: string;
  readonly #producer: Producer;

  constructor(options: { connection: KafkaConnectionConfig; topic: string }) {
    this.topic = options.topic;
    this.#producer = new Producer({
      ...kafkaClientOptions(options.connection, 'footfall-api-places'),
      idempotent: true,
      acks: -1,
      retries: 3,
      retryDelay: 250,
    });
  }

  /** Publishes the current state of each place (`definition` undefined → tombstone). */
  async publish(items: readonly { id: string; definition: PublishedPlace | undefined }[]): Promise<void> {
    if (items.length === 0) return;
    await this.#producer.send({
      messages: items.map(({ id, definition }) => ({
        topic: this.topic,
        key: Buffer.from(id),
        // The client writes a null value (a tombstone) when the value is null.
        value:
          definition === undefined
            ? (null as unknown as Buffer)
            : Buffer.from(PlaceDefinition.encode(definition).finish()),
      })),
    });
  }

  async close(): Promise<void> {
    await this.#producer.close();
  }
}
