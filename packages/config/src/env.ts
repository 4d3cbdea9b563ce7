import { z } from 'zod';

/** One environment variable: its name, schema (parses the raw string), default and documentation. */
export interface EnvVar<T> {
  env: string;
  schema: z.ZodType<T>;
  default: T | undefined;
  doc: string;
}

export type EnvSpec = Record<string, EnvVar<unknown>>;
export type ConfigOf<S extends EnvSpec> = Readonly<{
  [K in keyof S]: S[K] extends EnvVar<infer T> ? T : never;
}>;

/** Thrown at start-up; the message names every bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

const intFrom = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, 'must be an integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

/** Builders for env vars. Every one documents its unit in the variable name or the doc string. */
export const v = {
  int: (env: string, def: number | undefined, doc: string, min = 0, max = Number.MAX_SAFE_INTEGER) =>
    ({ env, schema: intFrom(min, max), default: def, doc }) satisfies EnvVar<number>,
  number: (env: string, def: number | undefined, doc: string, min = -Infinity, max = Infinity) =>
    ({
      env,
      schema: z.string().trim().min(1).transform(Number).pipe(z.number().finite().min(min).max(max)),
      default: def,
      doc,
    }) satisfies EnvVar<number>,
  string: (env: string, def: string | undefined, doc: string) =>
    ({ env, schema: z.string().min(1), default: def, doc }) satisfies EnvVar<string>,
  optionalString: (env: string, doc: string) =>
    ({ env, schema: z.string().min(1).optional(), default: undefined, doc }) as EnvVar<string | undefined>,
  bool: (env: string, def: boolean, doc: string) =>
    ({
      env,
      schema: z.enum(['true', 'false', '1', '0']).transform((s) => s === 'true' || s === '1'),
      default: def,
      doc,
    }) satisfies EnvVar<boolean>,
  list: (env: string, def: string[], doc: string) =>
    ({
      env,
      schema: z
        .string()
        .transform((s) =>
          s
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
        )
        .pipe(z.array(z.string()).min(1)),
      default: def,
      doc,
    }) satisfies EnvVar<string[]>,
  oneOf: <T extends string>(env: string, values: readonly [T, ...T[]], def: T, doc: string) =>
    ({ env, schema: z.enum(values) as unknown as z.ZodType<T>, default: def, doc }) satisfies EnvVar<T>,
};

/**
 * Reads `spec` from `env`, validates every variable, and returns a frozen config. All problems are
 * reported at once, each naming its variable, so a bad deployment fails fast with one clear message.
 */
export function loadConfig<S extends EnvSpec>(
  spec: S,
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<{ [K in keyof S]: unknown }> = {},
): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, variable] of Object.entries(spec)) {
    if (key in overrides) {
      out[key] = overrides[key as keyof S];
      continue;
    }
    const raw = env[variable.env];
    if (raw === undefined || raw === '') {
      if (variable.default === undefined && !variable.schema.safeParse(undefined).success) {
        problems.push(`${variable.env} is required (${variable.doc})`);
      }
      out[key] = variable.default;
      continue;
    }
    const parsed = variable.schema.safeParse(raw);
    if (parsed.success) out[key] = parsed.data;
    else
      problems.push(
        `${variable.env}=${JSON.stringify(raw)}: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
      );
  }
  if (problems.length) throw new ConfigError(problems);
  return Object.freeze(out) as ConfigOf<S>;
}
