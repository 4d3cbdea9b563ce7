// `npm run build -w @footfall/dashboard` → apps/dashboard/dist (add --if-stale to skip an up-to-date build).
import { buildDashboard, ensureDashboardBuilt } from './index.ts';

const started = performance.now();
const dir = process.argv.includes('--if-stale') ? await ensureDashboardBuilt() : await buildDashboard();
console.log(`dashboard built in ${dir} (${Math.round(performance.now() - started)} ms)`);
