// Docker HEALTHCHECK for the single Footfall image: exits 0 when the service in this container answers
// GET /healthz. One image runs any of the services, so it tries their ops ports (ingest 9101,
// processor 9102, sink 9103, api 8080) unless HEALTHCHECK_URL names the URL. Only one service runs per
// container, so the first port that answers is that service's. Kubernetes ignores HEALTHCHECK and uses
// the probes in deploy/k8s.
const urls = process.env.HEALTHCHECK_URL
  ? [process.env.HEALTHCHECK_URL]
  : [9101, 9102, 9103, 8080].map((port) => `http://127.0.0.1:${port}/healthz`);

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

const results = await Promise.all(urls.map(healthy));
process.exit(results.some(Boolean) ? 0 : 1);
