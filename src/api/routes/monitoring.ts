/**
 * Monitoring routes: per-VM stats (ReadOnly on the VM) and Prometheus metrics. /metrics needs the host admin
 * role, by signature or by a session token (Prometheus sends `Authorization: Bearer <token>`; see docs/MONITORING.md).
 */
import { renderMetrics, METRICS_CONTENT_TYPE } from '../../vm/monitoring/metrics.js';
import { vmStats } from '../../vm/monitoring/stats.js';
import { RAW, callerOf, type RouteSpec } from '../context.js';

/** The monitoring routes. */
export function monitoringRoutes(): RouteSpec[] {
  const routes: RouteSpec[] = [
    {
      method: 'GET',
      url: '/vms/:id/stats',
      summary: "a VM's state, uptime, QEMU CPU time and RSS, disk I/O, tap NIC counters and latest health check",
      tag: 'monitoring',
      auth: 'signed',
      handler: async (ctx) => {
        ctx.deps.access.require(callerOf(ctx), ctx.params.id!, 'ReadOnly', 'reading stats');
        const stats = await vmStats(ctx.deps.vigil.vms, ctx.params.id!);
        const health = ctx.deps.supervisor?.health?.status(stats.vm);
        return health ? { ...stats, health } : stats;
      },
    },
    {
      method: 'GET',
      url: '/metrics',
      summary: 'Prometheus metrics, one series per VM labelled vm (host admin; a session bearer token works for scrapers)',
      tag: 'host',
      auth: 'signed',
      handler: async (ctx) => {
        ctx.deps.access.requireHost(callerOf(ctx), ['admin'], 'reading metrics');
        const text = await renderMetrics({ vms: ctx.deps.vigil.vms, health: ctx.deps.supervisor?.health, audit: ctx.deps.vigil.audit });
        return { [RAW]: text, contentType: METRICS_CONTENT_TYPE };
      },
    },
  ];
  return routes;
}
