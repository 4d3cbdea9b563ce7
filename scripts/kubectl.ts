// kubectl (with its built-in kustomize) renders deploy/k8s for the deploy tests: the real tool, not a
// re-implementation. Where it comes from: the machine images this project runs on ship kubectl from
// the Kubernetes/Google Cloud apt repository (kustomize v5). Debian bookworm's own `kubernetes-client`
// is kubectl 1.20 with kustomize v2.0.3, which cannot read this kustomization (`patches:` entries fail
// to parse), so it is not a fallback; `apt-get install kubectl` works wherever such a repository is set up.
import { execFileSync } from 'node:child_process';

/** The oldest kustomize that renders deploy/k8s (`patches`, `labels`, generator options). */
export const MIN_KUSTOMIZE_MAJOR = 4;

/** kubectl's kustomize version (e.g. 'v5.5.0'), or undefined when kubectl is missing or broken. */
export function kustomizeVersion(): string | undefined {
  try {
    const out = execFileSync('kubectl', ['version', '--client', '-o', 'json'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const parsed = JSON.parse(out) as { kustomizeVersion?: string };
    return parsed.kustomizeVersion ?? 'v2 (kubectl without a kustomize version)';
  } catch (error) {
    // Old kubectl has no `-o json` for client-only; it is too old anyway if it exists.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return 'unknown (kubectl version --client -o json failed)';
  }
}

/** Why `kubectl kustomize` cannot render deploy/k8s here, or undefined when it can. */
export function kustomizeProblem(): string | undefined {
  const version = kustomizeVersion();
  if (version === undefined) {
    return 'kubectl is not installed (`node scripts/ensure-kubectl.ts` installs it where an apt source has it)';
  }
  const major = Number(/^v(\d+)\./.exec(version)?.[1]);
  if (!(major >= MIN_KUSTOMIZE_MAJOR)) {
    return `kubectl's kustomize is ${version}; deploy/k8s needs v${MIN_KUSTOMIZE_MAJOR} or newer`;
  }
  return undefined;
}
