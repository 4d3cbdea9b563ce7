import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Admin } from '@platformatic/kafka';
import pRetry, { AbortError } from 'p-retry';

const execFileAsync = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const POM = resolve(here, '../broker/pom.xml');
const REPO_ROOT = resolve(here, '../../..');

/** Options for {@link startLocalBroker}. */
export interface LocalBrokerOptions {
  /** Client port; 0 (default) picks a free one. The controller uses another free port. */
  port?: number;
  /** Where the jars are cached. Default: `<repo>/.cache/kafka`. */
  cacheDir?: string;
  /** Log directory. Default: a fresh temp dir, removed on close. A given dir is kept (restart tests). */
  dataDir?: string;
  /** JVM max heap in MiB. Default 512. */
  heapMb?: number;
  /** Topics created once the broker is ready. */
  topics?: readonly TopicSpec[];
  /** Called with progress lines ("fetching jars", "formatted", "ready in 2140 ms"). */
  onProgress?: (line: string) => void;
  /** Aborts start-up (the JVM is killed). */
  signal?: AbortSignal;
  /** How long to wait for the broker to answer metadata. Default 60 s. */
  readyTimeoutMs?: number;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  /** Topic-level configs, e.g. `{ 'cleanup.policy': 'compact' }`. */
  configs?: Record<string, string>;
}

export interface BrokerTimings {
  /** Time spent making sure the jars are in the cache (≈0 when cached). */
  fetchMs: number;
  formatMs: number;
  /** From JVM spawn to the first successful metadata answer. */
  startMs: number;
  topicsMs: number;
}

export class LocalBrokerError extends Error {
  override name = 'LocalBrokerError';
}

/** Checks Java and Maven and tells exactly what to install when one is missing. */
export async function checkJavaAndMaven(): Promise<void> {
  for (const [cmd, args, install] of [
    ['java', ['-version'], 'a Java 17+ runtime (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`)'],
    ['mvn', ['-v'], 'Apache Maven 3.8+ (Debian/Ubuntu: `apt-get install maven`)'],
  ] as const) {
    try {
      await execFileAsync(cmd, [...args]);
    } catch {
      throw new LocalBrokerError(
        `\`${cmd}\` was not found or failed: the local Kafka broker needs ${install}. ` +
          'Alternatively point KAFKA_BOOTSTRAP at an existing broker.',
      );
    }
  }
}

/**
 * Makes sure Kafka's jars are in `<cacheDir>/libs`, fetching them from Maven Central once.
 * The cache is keyed by the POM's hash, so bumping the Kafka version refetches.
 */
export async function ensureKafkaJars(
  cacheDir = join(REPO_ROOT, '.cache/kafka'),
  onProgress: (line: string) => void = () => {},
): Promise<string> {
  const pom = await readFile(POM);
  const hash = createHash('sha256').update(pom).digest('hex').slice(0, 16);
  const libs = join(cacheDir, `libs-${hash}`);
  const marker = join(libs, '.complete');
  if (existsSync(marker)) return libs;
  await checkJavaAndMaven();
  await rm(libs, { recursive: true, force: true });
  await mkdir(libs, { recursive: true });
  // Maven is quiet (-q) and the first fetch takes a while: say it is still working every 5 s.
  const started = performance.now();
  const ticker = setInterval(() => {
    void (async () => {
      const jars = (await readdir(libs).catch(() => [])).filter((f) => f.endsWith('.jar'));
      let bytes = 0;
      for (const f of jars) bytes += (await stat(join(libs, f)).catch(() => ({ size: 0 }))).size;
      // Maven resolves (downloads into ~/.m2) first and copies at the end: the count moves late.
      onProgress(
        `kafka: fetching jars with Maven … ${((performance.now() - started) / 1000).toFixed(0)} s, ` +
          `${jars.length} jars (${(bytes / 1e6).toFixed(1)} MB) copied`,
      );
    })();
  }, 5_000);
  ticker.unref();
  try {
    await execFileAsync(
      'mvn',
      [
        '-q',
        '-B',
        '-f',
        POM,
        'dependency:copy-dependencies',
        `-DoutputDirectory=${libs}`,
        '-DincludeScope=runtime',
      ],
      { maxBuffer: 16 * 1024 * 1024 },
    );
  } catch (error) {
    throw new LocalBrokerError(`fetching Kafka's jars with Maven failed (is Maven Central reachable?)`, {
      cause: error,
    });
  } finally {
    clearInterval(ticker);
  }
  await writeFile(marker, new Date().toISOString());
  return libs;
}

/** A free TCP port on 127.0.0.1 (the OS picks it; a tiny race with other processes remains). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject()));
    });
  });
}

const LOG4J = `appender.console.type=Console
appender.console.name=STDOUT
appender.console.layout.type=PatternLayout
appender.console.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
logger.server.name=kafka.server.KafkaRaftServer
logger.server.level=INFO
`;

function serverProperties(dataDir: string, port: number, controllerPort: number): string {
  return `process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:${controllerPort}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=${dataDir}/log
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.consumer.heartbeat.interval.ms=1000
group.consumer.min.heartbeat.interval.ms=500
group.consumer.session.timeout.ms=10000
group.consumer.min.session.timeout.ms=6000
log.flush.interval.ms=1000
log.retention.hours=24
`;
}

/**
 * A single-node KRaft Kafka (combined broker + controller) run from Apache Kafka's own jars.
 *
 * The JVM is started under a tiny shell guardian that polls this Node process: if Node dies without
 * running `close()` (kill -9, crash), the guardian stops the JVM within a second, so no orphan
 * brokers survive a killed test run.
 */
export class LocalBroker {
  readonly port: number;
  readonly controllerPort: number;
  readonly dataDir: string;
  readonly timings: BrokerTimings;
  #child: ChildProcess | undefined;
  #ownsDataDir: boolean;
  #libs: string;
  #heapMb: number;
  #output: string[] = [];
  #exited: Promise<void> = Promise.resolve();

  private constructor(init: {
    port: number;
    controllerPort: number;
    dataDir: string;
    ownsDataDir: boolean;
    libs: string;
    heapMb: number;
    timings: BrokerTimings;
  }) {
    this.port = init.port;
    this.controllerPort = init.controllerPort;
    this.dataDir = init.dataDir;
    this.#ownsDataDir = init.ownsDataDir;
    this.#libs = init.libs;
    this.#heapMb = init.heapMb;
    this.timings = init.timings;
  }

  /** `host:port` for clients. */
  get bootstrap(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The JVM's pid (the guardian's child), for tests of the stop path. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  static async start(options: LocalBrokerOptions = {}): Promise<LocalBroker> {
    const progress = options.onProgress ?? (() => {});
    let t = performance.now();
    progress('kafka: checking jars (first run fetches them from Maven Central)');
    const libs = await ensureKafkaJars(options.cacheDir, progress);
    const fetchMs = performance.now() - t;

    t = performance.now();
    const ownsDataDir = options.dataDir === undefined;
    const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'footfall-kafka-')));
    const port = options.port && options.port > 0 ? options.port : await freePort();
    const controllerPort = await freePort();
    await writeFile(join(dataDir, 'server.properties'), serverProperties(dataDir, port, controllerPort));
    await writeFile(join(dataDir, 'log4j2.properties'), LOG4J);
    if (!existsSync(join(dataDir, 'log', 'meta.properties'))) {
      // A leading '-' would be parsed by StorageTool as an option (`-t -XYZ…` fails): avoid it.
      const clusterId = randomBytes(16).toString('base64url').slice(0, 22).replace(/^-/, 'A');
      await execFileAsync(
        'java',
        [
          '-cp',
          `${libs}/*`,
          `-Dlog4j2.configurationFile=${join(dataDir, 'log4j2.properties')}`,
          'kafka.tools.StorageTool',
          'format',
          '--standalone',
          '-t',
          clusterId,
          '-c',
          join(dataDir, 'server.properties'),
        ],
        { signal: options.signal },
      );
    }
    const formatMs = performance.now() - t;
    progress(`kafka: storage formatted in ${formatMs.toFixed(0)} ms`);

    const broker = new LocalBroker({
      port,
      controllerPort,
      dataDir,
      ownsDataDir,
      libs,
      heapMb: options.heapMb ?? 512,
      timings: { fetchMs, formatMs, startMs: 0, topicsMs: 0 },
    });
    try {
      t = performance.now();
      await broker.#spawn(options.signal, options.readyTimeoutMs ?? 60_000);
      broker.timings.startMs = performance.now() - t;
      progress(`kafka: broker ready on ${broker.bootstrap} in ${broker.timings.startMs.toFixed(0)} ms`);
      t = performance.now();
      if (options.topics?.length) await createTopics(broker.bootstrap, options.topics);
      broker.timings.topicsMs = performance.now() - t;
    } catch (error) {
      await broker.close();
      throw error;
    }
    return broker;
  }

  async #spawn(signal: AbortSignal | undefined, readyTimeoutMs: number): Promise<void> {
    const javaArgs = [
      `-Xms${Math.min(256, this.#heapMb)}m`,
      `-Xmx${this.#heapMb}m`,
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-XX:+ExitOnOutOfMemoryError',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${join(this.dataDir, 'log4j2.properties')}`,
      '-cp',
      `${this.#libs}/*`,
      'kafka.Kafka',
      join(this.dataDir, 'server.properties'),
    ];
    // Guardian: exec-less shell that forwards TERM to the JVM and kills it if our Node process dies.
    const guardian = `java "$@" & jvm=$!
trap 'kill -TERM $jvm 2>/dev/null; wait $jvm; exit 0' TERM INT
while kill -0 ${process.pid} 2>/dev/null && kill -0 $jvm 2>/dev/null; do sleep 0.5; done
kill -TERM $jvm 2>/dev/null; wait $jvm`;
    const child = spawn('/bin/sh', ['-c', guardian, 'footfall-kafka', ...javaArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    this.#exited = new Promise((done) => child.once('exit', () => done()));
    const keep = (chunk: Buffer) => {
      this.#output.push(chunk.toString());
      if (this.#output.length > 200) this.#output.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    // The broker must never keep the Node process alive on its own.
    child.unref();
    (child.stdout as unknown as { unref?: () => void })?.unref?.();
    (child.stderr as unknown as { unref?: () => void })?.unref?.();

    const notYet = new LocalBrokerError(`Kafka did not become ready in ${readyTimeoutMs} ms`);
    await pRetry(
      async () => {
        if (!this.running) {
          throw new AbortError(
            new LocalBrokerError(`Kafka exited during start-up:\n${this.#output.join('').slice(-4000)}`),
          );
        }
        if (!(await this.#answersMetadata())) throw notYet;
      },
      // Poll every 200 ms until it answers, the JVM dies, the deadline passes or `signal` aborts.
      {
        retries: Number.POSITIVE_INFINITY,
        factor: 1,
        minTimeout: 200,
        maxRetryTime: readyTimeoutMs,
        ...(signal ? { signal } : {}),
      },
    );
  }

  async #answersMetadata(): Promise<boolean> {
    const admin = new Admin({
      clientId: 'footfall-local-broker',
      bootstrapBrokers: [this.bootstrap],
      retries: 0,
      connectTimeout: 1000,
      timeout: 2000,
    });
    try {
      const metadata = await admin.metadata({ topics: [] });
      return metadata.brokers.size > 0;
    } catch {
      return false;
    } finally {
      await admin.close().catch(() => {});
    }
  }

  /** Stops the JVM (SIGTERM, then SIGKILL after `graceMs`), keeping the data dir. */
  async stop(graceMs = 15_000): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Starts the JVM again on the same ports and data (broker-outage tests). */
  async restart(readyTimeoutMs = 60_000): Promise<void> {
    await this.stop();
    await this.#spawn(undefined, readyTimeoutMs);
  }

  /** Stops the broker and removes its temp data dir. Idempotent. */
  async close(): Promise<void> {
    await this.stop();
    if (this.#ownsDataDir) await rm(this.dataDir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Starts a {@link LocalBroker}; see its docs. */
export function startLocalBroker(options?: LocalBrokerOptions): Promise<LocalBroker> {
  return LocalBroker.start(options);
}

/** Creates topics that do not exist yet (replication factor 1: this is for single-node brokers). */
export async function createTopics(
  bootstrap: string,
  topics: readonly TopicSpec[],
  replicas = 1,
): Promise<void> {
  const admin = new Admin({ clientId: 'footfall-topics', bootstrapBrokers: [bootstrap] });
  try {
    const existing = new Set(await admin.listTopics());
    for (const topic of topics) {
      if (existing.has(topic.name)) continue;
      try {
        await admin.createTopics({
          topics: [topic.name],
          partitions: topic.partitions,
          replicas,
          configs: Object.entries(topic.configs ?? {}).map(([name, value]) => ({ name, value })),
        });
      } catch (error) {
        // A topic created moments ago (by another client) may be missing from the metadata we listed
        // (the client caches it): the broker then answers TOPIC_ALREADY_EXISTS, which is success for us.
        if (!isTopicAlreadyExists(error)) throw error;
      }
    }
  } finally {
    await admin.close();
  }
}

const TOPIC_ALREADY_EXISTS = 36;

function isTopicAlreadyExists(error: unknown): boolean {
  const responses = (
    (error as { errors?: { response?: { topics?: { errorCode: number }[] } }[] }).errors ?? []
  ).flatMap((e) => e.response?.topics ?? []);
  return (
    responses.length > 0 && responses.every((t) => t.errorCode === TOPIC_ALREADY_EXISTS || t.errorCode === 0)
  );
}
