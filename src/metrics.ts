// Prometheus metrics, served on the metrics port at /metrics.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({ name: 'flipt_operator_reconcile_total', help: 'Reconciles by controller and outcome', labelNames: ['controller', 'outcome'], registers: [this.registry] });
  readonly reconcileDuration = new Histogram({ name: 'flipt_operator_reconcile_duration_seconds', help: 'Reconcile duration', labelNames: ['controller'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry] });
  readonly queueDepth = new Gauge({ name: 'flipt_operator_workqueue_depth', help: 'Keys waiting in the work queue', labelNames: ['controller'], registers: [this.registry] });
  readonly configWrites = new Counter({ name: 'flipt_operator_config_writes_total', help: 'Writes of a target Flipt config ConfigMap', labelNames: ['target'], registers: [this.registry] });
  readonly restarts = new Counter({ name: 'flipt_operator_restarts_triggered_total', help: 'Flipt workload restarts triggered', labelNames: ['target'], registers: [this.registry] });
  readonly exchangeRequests = new Counter({ name: 'flipt_operator_exchange_requests_total', help: 'Exchange requests by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly exchangeDuration = new Histogram({ name: 'flipt_operator_exchange_request_duration_seconds', help: 'Exchange request latency', labelNames: ['outcome'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry] });
  readonly leader = new Gauge({ name: 'flipt_operator_leader', help: '1 while this replica leads', registers: [this.registry] });
  // Target and client state, for alerts and the dashboard. Registered (so /metrics names them) but not
  // set anywhere yet: the reconcilers will report them.
  readonly fliptClients = new Gauge({
    name: 'flipt_operator_fliptclients',
    help: 'FliptClients per target by readiness (ready="true"|"false"), as seen by the leader',
    labelNames: ['target', 'ready'],
    registers: [this.registry],
  });
  readonly targetBlocked = new Gauge({
    name: 'flipt_operator_target_blocked',
    help: '1 while a target cannot apply its changes, by reason (ConfigMapMissing, WorkloadMissing, InvalidFliptConfig, WriteFailed, TargetFull); 0 otherwise',
    labelNames: ['target', 'reason'],
    registers: [this.registry],
  });
  readonly rolloutPending = new Gauge({
    name: 'flipt_operator_target_rollout_pending_seconds',
    help: "Seconds since a restart of the target's Flipt workload was triggered whose rollout has not finished; 0 when done",
    labelNames: ['target'],
    registers: [this.registry],
  });
  readonly fillRatio = new Gauge({
    name: 'flipt_operator_target_fill_ratio',
    help: "Bytes used by the target's Flipt config ConfigMap (object=\"configmap\") or credentials Secret (object=\"secret\") over the API server's 1 MiB object limit",
    labelNames: ['target', 'object'],
    registers: [this.registry],
  });
  readonly nextRotation = new Gauge({
    name: 'flipt_operator_next_rotation_timestamp_seconds',
    help: "Earliest scheduled credential rotation among the target's FliptClients, as a Unix timestamp in seconds",
    labelNames: ['target'],
    registers: [this.registry],
  });
  readonly rotations = new Counter({
    name: 'flipt_operator_rotations_total',
    help: 'Credential rotations started, by target and trigger (schedule: rotation.every; request: the flipt.io/rotate annotation)',
    labelNames: ['target', 'trigger'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
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

/** Listens on the port; the error names what could not listen where. */
export function listen(server: Server, port: number, what = 'server'): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot listen on port ${port} for the ${what}: ${err.code ?? err.message}`)));
    server.listen(port, () => {
      server.removeAllListeners('error');
      resolve(server);
    });
  });
}
