// The layering rules of the tree (docs/architecture.md), checked by `npm run check` (so before every
// `npm test`) and by test/architecture/layering.test.ts, which also shows each rule failing on a
// violating file. CommonJS because dependency-cruiser loads its config with require().

/** Node built-ins that touch the outside world; the domain package may use none of them. */
const IO_BUILTINS = [
  'fs',
  'fs/promises',
  'net',
  'tls',
  'dgram',
  'dns',
  'http',
  'https',
  'http2',
  'child_process',
  'cluster',
  'worker_threads',
  'process',
  'os',
  'readline',
  'inspector',
  'sqlite',
  'timers',
  'timers/promises',
];
/** Clients of the outside world: database, Kafka, gRPC, HTTP. */
const IO_PACKAGES = [
  'pg',
  '@electric-sql/pglite',
  '@platformatic/kafka',
  '@grpc/grpc-js',
  'grpc-health-check',
  'fastify',
  'pino',
  'prom-client',
];
const anyOf = (names) => `^(node:)?(${names.map((n) => n.replace(/[/.]/g, '\\$&')).join('|')})$`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-no-io',
      comment:
        'packages/domain is pure logic (pings, cells, buckets, visits, the aggregator): no files, sockets, ' +
        'processes, clocks of the OS, database, Kafka or gRPC. I/O belongs to the apps and the other packages.',
      severity: 'error',
      from: { path: '^packages/domain/src/' },
      to: {
        path: [
          anyOf(IO_BUILTINS),
          `^node_modules/(${IO_PACKAGES.map((n) => n.replace(/[/.]/g, '\\$&')).join('|')})/`,
        ],
      },
    },
    {
      name: 'domain-no-io-module-name',
      comment: 'Same rule, matched on the import specifier (covers packages that do not resolve).',
      severity: 'error',
      from: { path: '^packages/domain/src/' },
      to: {
        dependencyTypes: ['core', 'npm', 'npm-dev', 'npm-no-pkg', 'npm-unknown', 'unknown'],
        path: anyOf(IO_PACKAGES),
      },
    },
    {
      name: 'packages-never-import-apps',
      comment:
        'packages/ are libraries; apps/ are deployables built from them. A library that imports an app ' +
        'turns the graph upside down (and the composition root that starts every service is apps/stack).',
      severity: 'error',
      from: { path: '^packages/' },
      to: { path: '^apps/' },
    },
    {
      name: 'no-reaching-into-another-app',
      comment:
        'An app (or its tests) uses another app only through that app’s package entry points ' +
        '(`@footfall/<app>` and the subpaths its package.json exports), never by a relative path into ' +
        'its src/ or test/. Shared test fixtures live in packages/testing.',
      severity: 'error',
      from: { path: '^apps/([^/]+)/' },
      // A relative import is 'local'; `@footfall/<app>` resolves through the package's exports map.
      to: {
        path: '^apps/([^/]+)/',
        pathNot: ['^apps/$1/'],
        dependencyTypes: ['local'],
        dependencyTypesNot: ['aliased-workspace'],
      },
    },
    {
      name: 'tools-use-apps-through-entry-points',
      comment:
        'bench/, scripts/, test/ and deploy/ use apps only through their package entry points, not by a ' +
        'relative path into an app’s src/ or test/.',
      severity: 'error',
      from: { path: '^(bench|scripts|test|deploy)/' },
      to: { path: '^apps/', dependencyTypes: ['local'], dependencyTypesNot: ['aliased-workspace'] },
    },
    {
      name: 'no-importing-tests',
      comment:
        'Nothing imports another workspace’s test/ folder: shared fixtures belong in packages/testing.',
      severity: 'error',
      from: { path: '^(apps|packages)/([^/]+)/' },
      to: { path: '^(apps|packages)/([^/]+)/test/', pathNot: ['^$1/$2/test/'] },
    },
    {
      name: 'production-code-not-from-tests',
      comment: 'Production code (src/) never imports test code or the test-only package.',
      severity: 'error',
      from: { path: '^(apps|packages)/[^/]+/src/', pathNot: ['^packages/testing/', '^apps/dashboard/src/'] },
      to: { path: ['^(apps|packages)/[^/]+/test/', '^packages/testing/'] },
    },
    {
      name: 'declared-dependencies',
      comment:
        'Each workspace declares what it imports in its own package.json, so npm (and this graph) see it. ' +
        'Type-only imports of @types packages are exempt.',
      severity: 'error',
      from: { path: '^(apps|packages)/[^/]+/' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'production-code-not-from-dev-dependencies',
      comment: 'src/ runs in production, where devDependencies are not installed.',
      severity: 'error',
      from: { path: '^(apps|packages)/[^/]+/src/', pathNot: ['^packages/testing/', '^apps/dashboard/src/'] },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-unresolvable',
      comment: 'An import that does not resolve is a broken build waiting to happen.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['(^|/)gen/', '^apps/dashboard/web/', '^\\.cache/'] },
    tsPreCompilationDeps: true,
    combinedDependencies: false,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.json'],
      mainFields: ['module', 'main', 'types'],
    },
    reporterOptions: {
      mermaid: { minify: false },
    },
  },
};
