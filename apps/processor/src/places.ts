import { PlaceDefinition } from '@footfall/contracts';
import { PlaceIndex } from '@footfall/domain';
import { CompactedTopicError, CompactedTopicReader, type KafkaConnectionConfig } from '@footfall/kafka';
import type { Logger } from '@footfall/observability';
import { Gauge, type Registry } from 'prom-client';
import { ProcessorError } from './errors.ts';

/**
 * Every named place (docs/places.md): the compacted `places` topic read in full before the group is
 * joined, then followed while running (a GlobalKTable). Definitions land in one {@link PlaceIndex}
 * shared by all partition tasks; each task's PlaceTracker pulls the changes at its next drain.
 */
export class PlaceTable {
  readonly index = new PlaceIndex();
  readonly #reader: CompactedTopicReader;
  readonly #logger: Logger;

  constructor(options: {
    connection: KafkaConnectionConfig;
    topic: string;
    clientId: string;
    logger: Logger;
    registry: Registry;
  }) {
    this.#logger = options.logger;
    this.#reader = new CompactedTopicReader({
      connection: options.connection,
      topic: options.topic,
      clientId: options.clientId,
      logger: options.logger,
      onRecord: (key, value, partition, offset) => this.#apply(key, value, partition, offset),
    });
    const table = this;
    new Gauge({
      name: 'footfall_places',
      help: 'Named places known from the places topic',
      registers: [options.registry],
      collect() {
        this.set(table.index.size);
      },
    });
  }

  get loaded(): boolean {
    return this.#reader.loaded;
  }

  async start(signal?: AbortSignal): Promise<void> {
    try {
      await this.#reader.start(signal);
    } catch (error) {
      if (error instanceof CompactedTopicError && error.code === 'TOPIC_MISSING') {
        throw new ProcessorError('PROCESSOR_TOPIC_MISMATCH', error.message, { cause: error });
      }
      throw error;
    }
    this.#logger.info({ places: this.index.size }, 'places table loaded');
  }

  close(): Promise<void> {
    return this.#reader.close();
  }

  #apply(key: Buffer | null, value: Buffer | null, partition: number, offset: bigint): void {
    const id = key?.toString('utf8') ?? '';
    if (value === null) {
      if (id) this.index.remove(id);
      return;
    }
    try {
      const d = PlaceDefinition.decode(value);
      if (!d.id || d.id !== id) throw new TypeError('key and id differ');
      this.index.upsert({
        id: d.id,
        version: d.version,
        cells: d.cells,
        effectiveFromMs: d.effectiveFromMs,
        region: d.region,
      });
    } catch (error) {
      this.#logger.error(
        { err: error, partition, offset: String(offset) },
        'unreadable place record skipped',
      );
    }
  }
}
