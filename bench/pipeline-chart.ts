// SVG of the knee search (bench/pipeline.ts): per offered rate, freshness p50/p99 and CPU % per process.

export interface ChartStep {
  offeredPingsPerSec: number;
  acceptedPingsPerSec: number;
  freshnessMs: { p50: number; p99: number };
  cpuPercent: Record<string, number>;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

export function kneeChart(steps: readonly ChartStep[], title: string): string {
  const W = 900;
  const H = 260;
  const left = 60;
  const right = 170;
  const maxX = Math.max(1, ...steps.map((s) => s.offeredPingsPerSec));
  const x = (v: number) => left + (v / maxX) * (W - left - right);
  const panel = (
    y0: number,
    heading: string,
    unit: string,
    series: { name: string; pts: [number, number][]; dash?: boolean }[],
    fixedMax?: number,
  ) => {
    const maxY = fixedMax ?? Math.max(1, ...series.flatMap((s) => s.pts.map((p) => p[1])));
    const y = (v: number) => y0 + H - 30 - (Math.min(v, maxY) / maxY) * (H - 60);
    const out = [
      `<text x="${left}" y="${y0 + 16}" font-size="13" font-weight="bold">${heading}</text>`,
      `<line x1="${left}" y1="${y(0)}" x2="${W - right}" y2="${y(0)}" stroke="#999"/>`,
      `<line x1="${left}" y1="${y(0)}" x2="${left}" y2="${y(maxY)}" stroke="#999"/>`,
      `<text x="4" y="${y(maxY) + 4}" font-size="11">${Math.round(maxY)} ${unit}</text>`,
      `<text x="4" y="${y(0)}" font-size="11">0</text>`,
    ];
    for (const s of steps)
      out.push(
        `<text x="${x(s.offeredPingsPerSec)}" y="${y(0) + 14}" font-size="10" text-anchor="middle">${Math.round(s.offeredPingsPerSec / 1000)}k</text>`,
      );
    series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      const pts = s.pts.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ');
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2"${s.dash ? ' stroke-dasharray="5,4"' : ''} points="${pts}"/>`,
      );
      for (const [a, b] of s.pts)
        out.push(`<circle cx="${x(a).toFixed(1)}" cy="${y(b).toFixed(1)}" r="3" fill="${color}"/>`);
      out.push(
        `<text x="${W - right + 10}" y="${y0 + 34 + i * 15}" fill="${color}" font-size="12">${s.name}</text>`,
      );
    });
    return out.join('\n');
  };
  const pts = (f: (s: ChartStep) => number): [number, number][] =>
    steps.map((s) => [s.offeredPingsPerSec, f(s)]);
  const processes = [...new Set(steps.flatMap((s) => Object.keys(s.cpuPercent)))];
  const maxFresh = Math.max(2_500, ...steps.map((s) => Math.min(s.freshnessMs.p99, 10_000)));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${3 * H + 40}" font-family="sans-serif" role="img">
<title>${title}</title>
<rect width="100%" height="100%" fill="white"/>
${panel(
  0,
  'Freshness (accepted → visible in the API) vs offered pings/s',
  'ms',
  [
    { name: 'p50', pts: pts((s) => s.freshnessMs.p50) },
    { name: 'p99 (clipped at 10 s)', pts: pts((s) => s.freshnessMs.p99) },
    { name: 'target p99 2 s', pts: pts(() => 2_000), dash: true },
  ],
  maxFresh,
)}
${panel(H, 'Accepted and offered pings/s', 'pings/s', [
  { name: 'offered', pts: pts((s) => s.offeredPingsPerSec), dash: true },
  { name: 'accepted', pts: pts((s) => s.acceptedPingsPerSec) },
])}
${panel(
  2 * H,
  'CPU % of one core per process (mean over the step)',
  '%',
  processes.map((name) => ({ name, pts: pts((s) => s.cpuPercent[name] ?? 0) })),
)}
<text x="${(W - right + left) / 2}" y="${3 * H + 30}" font-size="12" text-anchor="middle">offered pings/s (step)</text>
</svg>
`;
}
