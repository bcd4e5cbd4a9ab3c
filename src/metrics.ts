// Prometheus metrics, served on the metrics port at /metrics. Gauges about FliptClients are computed
// from the operator's cache when scraped, so they cost nothing between scrapes.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { listen } from './runtime/listen.ts';
import { targetNameOf, type FliptClient } from './vocabulary/fliptclient.ts';
import type { TargetState } from './vocabulary/registration.ts';

export class Metrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({ name: 'flipt_operator_reconcile_total', help: 'Reconciles by controller and outcome', labelNames: ['controller', 'outcome'], registers: [this.registry] });
  readonly reconcileDuration = new Histogram({ name: 'flipt_operator_reconcile_duration_seconds', help: 'Reconcile duration', labelNames: ['controller'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry] });
  readonly queueDepth = new Gauge({ name: 'flipt_operator_workqueue_depth', help: 'Keys waiting in the work queue', labelNames: ['controller'], registers: [this.registry] });
  readonly configWrites = new Counter({ name: 'flipt_operator_config_writes_total', help: 'Writes of a target Flipt config ConfigMap', labelNames: ['target'], registers: [this.registry] });
  readonly restarts = new Counter({ name: 'flipt_operator_restarts_triggered_total', help: 'Flipt workload restarts triggered', labelNames: ['target'], registers: [this.registry] });
  readonly rotations = new Counter({ name: 'flipt_operator_rotations_total', help: 'Token rotations completed (the client Secret switched to the new token), by trigger: schedule, request, or resumed (a switch completed after an operator restart, which cannot tell which)', labelNames: ['target', 'trigger'], registers: [this.registry] });
  readonly exchangeRequests = new Counter({ name: 'flipt_operator_exchange_requests_total', help: 'Exchange requests by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly exchangeDuration = new Histogram({ name: 'flipt_operator_exchange_request_duration_seconds', help: 'Exchange request latency', labelNames: ['outcome'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry] });
  readonly exchangeConnectionsDropped = new Counter({ name: 'flipt_operator_exchange_connections_dropped_total', help: 'Exchange connections closed unserved because exchange.maxConnections were already open', registers: [this.registry] });
  readonly leader = new Gauge({ name: 'flipt_operator_leader', help: '1 while this replica leads', registers: [this.registry] });

  /** What the scrape-time gauges read; set once the operator's caches and target reconciler exist. */
  private fliptClientSource?: { clients: () => readonly FliptClient[]; targets: readonly string[] };
  private targetSource?: { states: () => ReadonlyMap<string, TargetState>; now: () => number };

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Declared here, read at scrape time: every name is served from the start (the alerts rely on the
    // names and labels), and costs nothing between scrapes.
    const metrics = this;
    new Gauge({
      name: 'flipt_operator_fliptclients',
      help: 'FliptClients by target and whether they are Ready',
      labelNames: ['target', 'ready'],
      registers: [this.registry],
      collect() {
        this.reset();
        const source = metrics.fliptClientSource;
        if (!source) return;
        for (const target of source.targets) for (const ready of ['true', 'false']) this.set({ target, ready }, 0);
        for (const client of source.clients()) {
          const ready = client.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? 'true' : 'false';
          this.inc({ target: targetNameOf(client), ready });
        }
      },
    });
    const earliestGauge = (name: string, help: string, field: 'rotateAt' | 'expiresAt') =>
      new Gauge({
        name,
        help,
        labelNames: ['target'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const [target, at] of earliestByTarget(metrics.fliptClientSource?.clients() ?? [], field)) this.set({ target }, at / 1000);
        },
      });
    earliestGauge('flipt_operator_next_rotation_timestamp_seconds', "When the target's next scheduled token rotation is due (unix seconds); absent when none is scheduled", 'rotateAt');
    // Only a JWT client's status carries expiresAt (a switch back to a static token clears it).
    earliestGauge(
      'flipt_operator_next_jwt_expiry_timestamp_seconds',
      "When the earliest-expiring JWT a target's FliptClients hold expires (unix seconds); absent when none holds one. Refreshed at two thirds of its lifetime, so it stays a third of jwt.lifetime ahead",
      'expiresAt',
    );
    new Gauge({
      name: 'flipt_operator_target_fill_ratio',
      help: "How full a target's ConfigMap and credentials Secret are, of the API server's 1 MiB object limit (the larger of data and annotations for the ConfigMap)",
      labelNames: ['target', 'object'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [target, state] of metrics.targetSource?.states() ?? []) {
          if (!state.fill) continue;
          this.set({ target, object: 'configmap' }, state.fill.configMap);
          this.set({ target, object: 'secret' }, state.fill.secret);
        }
      },
    });
    new Gauge({
      name: 'flipt_operator_target_blocked',
      help: 'Whether something keeps a target from registering clients, or Flipt from accepting their credentials, by reason (1 while it does)',
      labelNames: ['target', 'reason'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [target, state] of metrics.targetSource?.states() ?? []) {
          const reasons = new Set<string>([...state.refused.values()].map((r) => r.reason));
          if (state.problem) reasons.add(state.problem.reason);
          // A JWT target that cannot configure Flipt's jwt method registers no JWT client either.
          if (state.jwtProblem) reasons.add(state.jwtProblem.reason);
          if (state.envOverride?.blocking) reasons.add(state.envOverride.reason);
          if (state.writeFailure) reasons.add('WriteFailed');
          for (const reason of reasons) this.set({ target, reason }, 1);
        }
      },
    });
    new Gauge({
      name: 'flipt_operator_target_rollout_pending_seconds',
      help: 'Seconds since a Flipt restart was triggered whose rollout has not finished (0 when none runs)',
      labelNames: ['target'],
      registers: [this.registry],
      collect() {
        this.reset();
        const source = metrics.targetSource;
        if (!source) return;
        for (const [target, state] of source.states()) this.set({ target }, state.rolloutSince === undefined ? 0 : Math.max(0, (source.now() - state.rolloutSince) / 1000));
      },
    });
  }

  /** FliptClients per target by readiness, and each target's next scheduled rotation, read from the cache at scrape time. */
  trackFliptClients(clients: () => readonly FliptClient[], targets: readonly string[]): void {
    this.fliptClientSource = { clients, targets };
  }

  /** Each target's fill, what blocks it and how long its rollout runs, read from its last state at scrape time. */
  trackTargets(states: () => ReadonlyMap<string, TargetState>, now: () => number): void {
    this.targetSource = { states, now };
  }

  serve(port: number): Promise<Server> {
    const server = createServer(async (req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': this.registry.contentType }).end(await this.registry.metrics());
    });
    return listen(server, port, 'metrics');
  }
}

/** Per target, the earliest of a timestamp its FliptClients' statuses carry (ms); targets where none does are left out. */
function earliestByTarget(clients: readonly FliptClient[], field: 'rotateAt' | 'expiresAt'): Map<string, number> {
  const earliest = new Map<string, number>();
  for (const client of clients) {
    const text = client.status?.[field];
    const at = text ? Date.parse(text) : NaN;
    const target = targetNameOf(client);
    if (!Number.isNaN(at) && at < (earliest.get(target) ?? Infinity)) earliest.set(target, at);
  }
  return earliest;
}

