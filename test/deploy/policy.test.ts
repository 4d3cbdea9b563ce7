import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INGESTION_RETENTION_MS, INGESTION_SEGMENT_MS } from '@footfall/kafka';
import {
  containersOf,
  find,
  get,
  kustomizeSkip,
  OVERLAYS,
  ofKind,
  parseImage,
  podSpecOf,
  renderOverlay,
  SERVICES,
  selects,
} from './helpers.ts';

const PORTS = {
  ingest: [50051, 9101],
  processor: [9102],
  sink: [9103],
  alerts: [9105],
  api: [8080],
} as const;

if (kustomizeSkip) test('deploy policy of the rendered overlays', { skip: kustomizeSkip }, () => {});
for (const overlay of kustomizeSkip ? [] : OVERLAYS) {
  const objects = renderOverlay(overlay);
  const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');

  test(`${overlay}: every workload is probed, bounded, non-root, read-only, pinned, unprivileged`, () => {
    assert.ok(workloads.length >= SERVICES.length);
    for (const w of workloads) {
      const pod = podSpecOf(w);
      assert.ok(pod, w.metadata.name);
      assert.equal(get(pod, 'securityContext.runAsNonRoot'), true, `${w.metadata.name}: pod runAsNonRoot`);
      assert.equal(get(pod, 'securityContext.seccompProfile.type'), 'RuntimeDefault', w.metadata.name);
      assert.notEqual(pod.hostNetwork, true);
      const tmp = (pod.volumes ?? []).find((v: { name: string }) => v.name === 'tmp');
      assert.ok(tmp?.emptyDir, `${w.metadata.name}: emptyDir for /tmp`);
      for (const c of containersOf(pod)) {
        const id = `${w.metadata.name}/${c.name}`;
        for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe'])
          assert.ok(get(c, probe), `${id}: ${probe}`);
        for (const kind of ['requests', 'limits']) {
          for (const r of ['cpu', 'memory'])
            assert.ok(get(c, `resources.${kind}.${r}`), `${id}: resources.${kind}.${r}`);
        }
        const sc = get(c, 'securityContext');
        assert.equal(sc?.readOnlyRootFilesystem, true, `${id}: readOnlyRootFilesystem`);
        assert.notEqual(sc?.privileged, true, `${id}: privileged`);
        assert.equal(sc?.allowPrivilegeEscalation, false, `${id}: allowPrivilegeEscalation`);
        assert.ok(sc?.capabilities?.drop?.includes('ALL'), `${id}: drop ALL capabilities`);
        assert.equal(
          sc?.runAsNonRoot ?? get(pod, 'securityContext.runAsNonRoot'),
          true,
          `${id}: runAsNonRoot`,
        );
        assert.ok(
          c.volumeMounts?.some((m: { mountPath: string }) => m.mountPath === '/tmp'),
          `${id}: /tmp mounted`,
        );
        const image = parseImage(c.image as string);
        assert.ok(
          image.digest || (image.tag && image.tag !== 'latest'),
          `${id}: image ${c.image} is not pinned`,
        );
      }
    }
  });

  test(`${overlay}: each service runs from the one image with its command, ports and probes`, () => {
    const images = new Set<string>();
    for (const svc of SERVICES) {
      const d = find(objects, 'Deployment', svc);
      const c = get(d, 'spec.template.spec.containers.0');
      images.add(c.image);
      assert.deepEqual(c.args, ['node', `apps/${svc}/src/main.ts`]);
      assert.equal(c.command, undefined, `${svc}: command would bypass tini`);
      assert.deepEqual(
        c.ports.map((p: { containerPort: number }) => p.containerPort),
        [...PORTS[svc]],
      );
      const opsPort = c.ports.find((p: { containerPort: number }) => p.containerPort === PORTS[svc].at(-1));
      const named = (port: unknown) => port === opsPort.name || port === opsPort.containerPort;
      assert.equal(c.readinessProbe.httpGet.path, '/readyz');
      assert.ok(named(c.readinessProbe.httpGet.port));
      assert.equal(c.livenessProbe.httpGet.path, '/healthz');
      assert.ok(named(c.livenessProbe.httpGet.port));
      assert.ok(
        c.envFrom.some((e: { configMapRef?: { name: string } }) =>
          e.configMapRef?.name.startsWith('footfall-config-'),
        ),
      );
    }
    assert.equal(
      get(find(objects, 'Deployment', 'ingest'), 'spec.template.spec.containers.0.startupProbe.grpc.port'),
      50051,
    );
    assert.equal(images.size, 1, 'all services use the same image');
  });

  test(`${overlay}: Services, PodDisruptionBudgets, NetworkPolicies and ServiceMonitors cover every service`, () => {
    for (const svc of SERVICES) {
      const labels = get(find(objects, 'Deployment', svc), 'spec.template.metadata.labels');
      const service = find(objects, 'Service', svc);
      assert.ok(selects({ matchLabels: get(service, 'spec.selector') }, labels), `Service ${svc}`);
      const pdb = ofKind(objects, 'PodDisruptionBudget').find((p) =>
        selects(get(p, 'spec.selector'), labels),
      );
      assert.ok(pdb, `PodDisruptionBudget for ${svc}`);
      const policies = ofKind(objects, 'NetworkPolicy').filter((p) =>
        selects(get(p, 'spec.podSelector'), labels),
      );
      assert.ok(policies.length > 0, `NetworkPolicy for ${svc}`);
      const monitor = ofKind(objects, 'ServiceMonitor').find((m) =>
        selects(get(m, 'spec.selector'), service.metadata.labels),
      );
      assert.ok(monitor, `ServiceMonitor for ${svc}`);
      const portNames = get(service, 'spec.ports').map((p: { name: string }) => p.name);
      for (const e of get(monitor, 'spec.endpoints'))
        assert.ok(portNames.includes(e.port), `${svc}: port ${e.port}`);
    }
    // Only ingest accepts traffic from anywhere; api only from the ingress and monitoring namespaces.
    for (const p of ofKind(objects, 'NetworkPolicy')) {
      for (const rule of get(p, 'spec.ingress') ?? []) {
        if (!rule.from) assert.equal(p.metadata.name, 'ingest', `${p.metadata.name} is open to the world`);
      }
    }
    const apiSources = get(find(objects, 'NetworkPolicy', 'api'), 'spec.ingress.0.from').map(
      (f: { namespaceSelector: { matchLabels: Record<string, string> } }) =>
        f.namespaceSelector.matchLabels['kubernetes.io/metadata.name'],
    );
    assert.deepEqual(apiSources.sort(), ['ingress-nginx', 'monitoring']);
    const exposed = ofKind(objects, 'Service').filter((s) =>
      ['LoadBalancer', 'NodePort'].includes(get(s, 'spec.type')),
    );
    assert.ok(exposed.every((s) => s.metadata.name === 'ingest'));
  });

  test(`${overlay}: only the services reach Kafka and PostgreSQL`, () => {
    const peers = get(find(objects, 'Kafka', 'footfall'), 'spec.kafka.listeners').map(
      (l: { networkPolicyPeers?: unknown[] }) => l.networkPolicyPeers,
    );
    for (const p of peers) assert.ok(Array.isArray(p) && p.length > 0, 'every listener restricts its peers');
    const pg = find(objects, 'NetworkPolicy', 'footfall-pg');
    assert.ok(selects(get(pg, 'spec.podSelector'), { 'cnpg.io/cluster': 'footfall-pg' }));
    const to5432 = get(pg, 'spec.ingress').filter((r: { ports: Array<{ port: number }> }) =>
      r.ports.some((p) => p.port === 5432),
    );
    const clients = SERVICES.filter((svc) =>
      to5432.some((r: { from: Array<{ podSelector?: unknown }> }) =>
        r.from.some((f) =>
          selects(f.podSelector, get(find(objects, 'Deployment', svc), 'spec.template.metadata.labels')),
        ),
      ),
    );
    assert.deepEqual(clients, ['sink', 'alerts', 'api']);
  });

  test(`${overlay}: partitions and autoscaling bounds agree`, () => {
    const config = ofKind(objects, 'ConfigMap').find((c) => c.metadata.name.startsWith('footfall-config-'));
    const data = config?.data as Record<string, string>;
    for (const [k, v] of Object.entries({
      CELL_RESOLUTION: '10',
      REGION_RESOLUTION: '5',
      BUCKET_MS: '60000',
      ALLOWED_LATENESS_MS: '3600000',
      PRESENCE_MAX_GAP_MS: '600000',
      K_ANONYMITY: '5',
    })) {
      assert.equal(data[k], v, k);
    }
    assert.ok(data.KAFKA_BOOTSTRAP && data.LOG_LEVEL);
    const partitions = get(find(objects, 'KafkaTopic', 'ingestion'), 'spec.partitions');
    assert.equal(get(find(objects, 'KafkaTopic', 'aggregated'), 'spec.partitions'), partitions);
    assert.equal(data.KAFKA_PARTITIONS, undefined, 'the partition count comes from the topics, not config');
    const scaled = find(objects, 'ScaledObject', 'processor');
    assert.ok(get(scaled, 'spec.maxReplicaCount') <= partitions, 'processor maxReplicaCount <= partitions');
    const trigger = get(scaled, 'spec.triggers.0');
    assert.equal(trigger.type, 'kafka');
    assert.equal(trigger.metadata.consumerGroup, 'footfall-processor');
    assert.equal(trigger.metadata.topic, 'ingestion');
    for (const hpa of ofKind(objects, 'HorizontalPodAutoscaler')) {
      if (['processor', 'sink'].includes(get(hpa, 'spec.scaleTargetRef.name'))) {
        assert.ok(get(hpa, 'spec.maxReplicas') <= partitions);
      }
    }
    const ingestHpa = find(objects, 'HorizontalPodAutoscaler', 'ingest');
    assert.equal(get(ingestHpa, 'spec.metrics.0.resource.name'), 'cpu');
    for (const svc of ['ingest', 'processor']) {
      assert.equal(
        get(find(objects, 'Deployment', svc), 'spec.replicas'),
        undefined,
        `${svc}: autoscaler owns replicas`,
      );
    }
    assert.ok(get(find(objects, 'Deployment', 'sink'), 'spec.replicas') <= partitions);
  });

  test(`${overlay}: Kafka and PostgreSQL are shaped for the environment`, () => {
    const pools = ofKind(objects, 'KafkaNodePool');
    const count = (role: string) =>
      pools
        .filter((p) => get(p, 'spec.roles').includes(role))
        .reduce((n, p) => n + get(p, 'spec.replicas'), 0);
    const kafka = find(objects, 'Kafka', 'footfall');
    const config = get(kafka, 'spec.kafka.config');
    const brokers = count('broker');
    for (const t of ofKind(objects, 'KafkaTopic')) {
      assert.ok(get(t, 'spec.replicas') <= brokers, `${t.metadata.name}: replicas <= brokers`);
    }
    assert.equal(
      get(find(objects, 'KafkaTopic', 'aggregated'), 'spec.config')['cleanup.policy'],
      'compact,delete',
    );
    // docs/privacy.md: raw pings live a few hours, the erasure log forever (compacted).
    const ingestion = get(find(objects, 'KafkaTopic', 'ingestion'), 'spec.config');
    assert.equal(Number(ingestion['retention.ms']), INGESTION_RETENTION_MS);
    assert.equal(Number(ingestion['segment.ms']), INGESTION_SEGMENT_MS);
    assert.equal(get(find(objects, 'KafkaTopic', 'erasures'), 'spec.config')['cleanup.policy'], 'compact');
    for (const o of objects.filter(
      (x) => x.apiVersion.startsWith('kafka.strimzi.io/') && x.kind !== 'Kafka',
    )) {
      assert.equal(o.metadata.labels?.['strimzi.io/cluster'], 'footfall', `${o.kind}/${o.metadata.name}`);
    }
    if (overlay === 'production') {
      assert.equal(count('controller'), 3);
      assert.equal(brokers, 3);
      assert.equal(config['default.replication.factor'], 3);
      assert.equal(config['min.insync.replicas'], 2);
      assert.equal(get(kafka, 'spec.kafka.rack.topologyKey'), 'topology.kubernetes.io/zone');
      assert.equal(get(find(objects, 'KafkaTopic', 'ingestion'), 'spec.replicas'), 3);
      assert.equal(get(find(objects, 'Cluster', 'footfall-pg'), 'spec.instances'), 3);
    }
    // An acknowledged write survives the loss of one replica whenever there are replicas to spare.
    for (const t of ofKind(objects, 'KafkaTopic')) {
      const replicas = get(t, 'spec.replicas');
      const minIsr = get(t, 'spec.config')['min.insync.replicas'];
      assert.ok(replicas === 1 ? minIsr === 1 : minIsr < replicas && minIsr >= 2, t.metadata.name);
    }
  });

  test(`${overlay}: Kafka users have least-privilege ACLs for their service`, () => {
    const acls = (user: string) =>
      get(find(objects, 'KafkaUser', user), 'spec.authorization.acls').map(
        (a: { resource: { type: string; name: string; patternType: string }; operations: string[] }) =>
          `${a.resource.type}:${a.resource.name}:${a.resource.patternType}:${[...a.operations].sort().join('+')}`,
      );
    assert.deepEqual(acls('footfall-ingest'), [
      'topic:ingestion:literal:Describe+Write',
      'topic:erasures:literal:Describe+Read',
    ]);
    assert.deepEqual(acls('footfall-processor'), [
      'topic:ingestion:literal:Describe+Read',
      'topic:aggregated:literal:Describe+Write',
      'topic:erasures:literal:Describe+Read',
      'topic:places:literal:Describe+Read',
      'group:footfall-processor:literal:Describe+Read',
      'transactionalId:footfall-processor:prefix:Describe+Write',
    ]);
    assert.deepEqual(acls('footfall-sink'), [
      'topic:aggregated:literal:Describe+Read',
      'group:footfall-sink:literal:Describe+Read',
    ]);
    assert.deepEqual(acls('footfall-api'), [
      'topic:aggregated:literal:Describe+Read',
      'group:footfall-api:prefix:Describe+Read',
      'topic:erasures:literal:Describe+Write',
      'topic:places:literal:Describe+Write',
      'topic:ingestion:literal:DescribeConfigs',
      'topic:aggregated:literal:DescribeConfigs',
    ]);
  });

  test(`${overlay}: every referenced Secret is rendered, operator-made or documented as external`, () => {
    const rendered = new Set(ofKind(objects, 'Secret').map((s) => s.metadata.name));
    const operatorMade = new Set([
      ...ofKind(objects, 'KafkaUser').map((u) => u.metadata.name),
      ...ofKind(objects, 'Cluster').map((c) => `${c.metadata.name}-app`),
    ]);
    const external = overlay === 'production' ? new Set(['footfall-secrets']) : new Set<string>();
    const refs = new Set<string>();
    for (const w of workloads) {
      for (const c of containersOf(podSpecOf(w) ?? {})) {
        for (const e of (c.env as Array<{ valueFrom?: { secretKeyRef?: { name: string } } }>) ?? []) {
          if (e.valueFrom?.secretKeyRef) refs.add(e.valueFrom.secretKeyRef.name);
        }
      }
    }
    for (const t of ofKind(objects, 'TriggerAuthentication')) {
      for (const r of get(t, 'spec.secretTargetRef') ?? []) refs.add(r.name);
    }
    for (const name of refs) {
      assert.ok(
        rendered.has(name) || operatorMade.has(name) || external.has(name),
        `Secret ${name} comes from nowhere`,
      );
    }
    if (overlay === 'production') assert.equal(rendered.size, 0, 'production commits no Secret');
    for (const s of ofKind(objects, 'Secret')) {
      for (const v of Object.values(s.data as Record<string, string>)) {
        assert.match(Buffer.from(v, 'base64').toString(), /^dev-only-insecure-/, 'dev secrets are marked');
      }
    }
  });

  test(`${overlay}: everything lives in the footfall namespace`, () => {
    for (const o of objects) {
      if (o.kind === 'Namespace') assert.equal(o.metadata.name, 'footfall');
      else assert.equal(o.metadata.namespace, 'footfall', `${o.kind}/${o.metadata.name}`);
    }
  });
}
