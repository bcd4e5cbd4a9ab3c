// The chart's alerts (PrometheusRule) and Grafana dashboard, checked with Prometheus' own code: the
// rendered rules pass `promtool check rules`; every rule expression and dashboard query parses with
// Prometheus' PromQL parser and reads only metrics that a real operator process serves at /metrics
// (and only labels those metrics carry); and each alert fires on the condition it names, not before
// its `for` and not on a healthy neighbour, in `promtool test rules` scenarios over synthetic series.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubernetesObject, V1ConfigMap } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { Metrics } from '../../src/metrics.ts';
import { installCrd, testCluster, waitFor } from '../support/cluster.ts';
import { createFliptTarget } from '../support/flipt-target.ts';
import { helmTemplate } from '../support/helm.ts';
import { startOperator, writeOperatorConfig, type OperatorProcess } from '../support/operator-process.ts';
import { analysePromql, promtool, type ExpressionUse } from '../support/promtool.ts';

const CHART = 'charts/flipt-client-operator';
const RELEASE = 'fco-alerts';
const FULLNAME = `${RELEASE}-flipt-client-operator`;
const JOB = `job="${FULLNAME}"`;

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fco-alerts-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function renderChart(values: Record<string, unknown>): Promise<KubernetesObject[]> {
  return helmTemplate(CHART, values, 'operators', RELEASE);
}

/** The PrometheusRule's rules, rendered with these prometheusRule values. */
async function renderRules(prometheusRule: Record<string, unknown> = {}): Promise<Rule[]> {
  const objects = await renderChart({ prometheusRule: { enabled: true, ...prometheusRule } });
  const rules = objects.filter((o) => o.kind === 'PrometheusRule') as Array<KubernetesObject & { spec: { groups: Array<{ name: string; rules: Rule[] }> } }>;
  assert.equal(rules.length, 1, 'one PrometheusRule');
  assert.equal(rules[0]!.apiVersion, 'monitoring.coreos.com/v1');
  return rules[0]!.spec.groups.flatMap((g) => g.rules);
}

async function renderDashboard(): Promise<{ configMap: V1ConfigMap; dashboard: Dashboard }> {
  const objects = await renderChart({ grafanaDashboard: { enabled: true } });
  const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === `${FULLNAME}-dashboard`) as V1ConfigMap | undefined;
  assert.ok(configMap, 'the dashboard ConfigMap');
  return { configMap, dashboard: JSON.parse(configMap.data!['flipt-client-operator.json']!) as Dashboard };
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid: string };
  targets?: Array<{ expr: string; refId: string; datasource?: { uid: string } }>;
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: { query: string } | string }> };
}

const ALERTS = [
  'FliptOperatorDown',
  'FliptOperatorNoLeader',
  'FliptOperatorReconcileErrors',
  'FliptClientsNotReady',
  'FliptOperatorTargetBlocked',
  'FliptOperatorRolloutStuck',
  'FliptOperatorExchangeErrors',
  'FliptOperatorTokenReviewUnavailable',
  'FliptOperatorTargetNearCapacity',
  'FliptOperatorRotationOverdue',
  'FliptOperatorJwtExpiring',
];

/** Writes a rule file (annotations other than `summary` left out, so expectations stay readable). */
async function writeRules(rules: Rule[], name: string): Promise<string> {
  const stripped = rules.map((r) => ({ ...r, annotations: r.annotations.summary ? { summary: r.annotations.summary } : {} }));
  const path = join(dir, name);
  await writeFile(path, stringify({ groups: [{ name: 'flipt-client-operator', rules: stripped }] }));
  return path;
}

test('the PrometheusRule holds every alert, and `promtool check rules` accepts it', async () => {
  const rules = await renderRules({ runbookUrl: 'https://runbooks.example/flipt' });
  assert.deepEqual(rules.map((r) => r.alert), ALERTS);
  for (const rule of rules) {
    assert.match(rule.labels.severity ?? '', /^(critical|warning)$/, `${rule.alert} has a severity`);
    assert.ok(rule.annotations.summary && rule.annotations.description, `${rule.alert} has a summary and a description`);
    assert.equal(rule.annotations.runbook_url, `https://runbooks.example/flipt#${rule.alert.toLowerCase()}`);
    assert.ok(rule.expr.includes(JOB), `${rule.alert} selects this installation's job: ${rule.expr}`);
  }
  const path = join(dir, 'full-rules.yaml');
  await writeFile(path, stringify({ groups: [{ name: 'flipt-client-operator', rules }] }));
  const checked = await promtool(['check', 'rules', path]);
  assert.equal(checked.code, 0, checked.output);
  assert.match(checked.output, new RegExp(`SUCCESS: ${ALERTS.length} rules found`));

  // Each alert can be turned off; runbook_url only with runbookUrl.
  const without = await renderRules({ alerts: { rolloutStuck: { enabled: false } } });
  assert.deepEqual(without.map((r) => r.alert), ALERTS.filter((a) => a !== 'FliptOperatorRolloutStuck'));
  assert.equal(without[0]!.annotations.runbook_url, undefined);
  const custom = await renderRules({ selector: 'job="ops",namespace="operators"' });
  for (const rule of custom) assert.ok(rule.expr.includes('job="ops",namespace="operators"') && !rule.expr.includes(JOB), rule.expr);
});

test('the dashboard is well-formed: unique panel ids, every query on the chosen data source, variables defined', async () => {
  const { configMap, dashboard } = await renderDashboard();
  assert.equal(configMap.metadata!.labels!.grafana_dashboard, '1', 'the label the Grafana sidecar looks for');
  assert.equal(configMap.metadata!.namespace, 'operators');
  assert.equal(dashboard.uid, 'flipt-client-operator');
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const variables = new Set(dashboard.templating.list.map((v) => v.name));
  assert.deepEqual([...variables].sort(), ['datasource', 'job', 'target']);
  const graphs = dashboard.panels.filter((p) => p.type !== 'row');
  assert.ok(graphs.length >= 15, `${graphs.length} panels`);
  for (const panel of graphs) {
    assert.ok(panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title} fits the 24-column grid`);
    assert.equal(panel.datasource?.uid, '${datasource}', `${panel.title} uses the data source variable`);
    assert.ok(panel.targets?.length, `${panel.title} has queries`);
    for (const t of panel.targets!) {
      assert.equal(t.datasource?.uid, '${datasource}');
      for (const used of t.expr.matchAll(/\$(\w+)/g)) {
        assert.ok(variables.has(used[1]!) || used[1]!.startsWith('__'), `${panel.title}: $${used[1]} is defined`);
      }
    }
  }
  const other = await helmTemplate(CHART, { grafanaDashboard: { enabled: true, namespace: 'grafana', annotations: { grafana_folder: 'Flipt' } } }, 'operators', RELEASE);
  const moved = other.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === `${FULLNAME}-dashboard`)!;
  assert.equal(moved.metadata!.namespace, 'grafana');
  assert.equal(moved.metadata!.annotations!.grafana_folder, 'Flipt');
  assert.equal((await renderChart({})).filter((o) => o.kind === 'PrometheusRule' || o.metadata?.name === `${FULLNAME}-dashboard`).length, 0, 'both are opt-in');
});

/** Grafana's query text as PromQL: its variables replaced by values of the same shape. */
function grafanaToPromql(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$__range', '1h').replaceAll('$job', '.+').replaceAll('$target', '.*');
}

/** Every metric name the /metrics text declares or samples; histograms and summaries with their series suffixes. */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      const [, name, kind] = type;
      names.add(name!);
      if (kind === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
      if (kind === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${name}${suffix}`);
    } else if (line && !line.startsWith('#')) {
      names.add(/^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0]);
    }
  }
  return names;
}

/** The labels each series of the operator's registry may carry, as Prometheus stores them (job and instance added). */
function labelsByMetric(): Map<string, Set<string>> {
  const scrape = ['job', 'instance'];
  const out = new Map<string, Set<string>>([['up', new Set(scrape)]]);
  for (const metric of new Metrics().registry.getMetricsAsArray()) {
    const { name, labelNames } = metric as unknown as { name: string; labelNames: string[] };
    const type = (metric as unknown as { type: string }).type;
    const labels = [...labelNames, ...scrape];
    out.set(name, new Set(labels));
    if (type === 'histogram') {
      out.set(`${name}_bucket`, new Set([...labels, 'le']));
      out.set(`${name}_sum`, new Set(labels));
      out.set(`${name}_count`, new Set(labels));
    }
    if (type === 'summary') {
      out.set(name, new Set([...labels, 'quantile']));
      out.set(`${name}_sum`, new Set(labels));
      out.set(`${name}_count`, new Set(labels));
    }
  }
  return out;
}

/** What is wrong with one analysed expression: a parse error, a metric not exposed, or a label the metric does not carry. */
function problems(use: ExpressionUse, exposed: Set<string>, labels: Map<string, Set<string>>): string[] {
  if (use.error) return [`does not parse: ${use.error}`];
  const out: string[] = [];
  const known = new Set<string>();
  for (const s of use.selectors) {
    if (!s.metric) {
      out.push('a selector without a metric name');
      continue;
    }
    if (s.metric !== 'up' && !exposed.has(s.metric)) {
      out.push(`${s.metric} is not exposed at /metrics`);
      continue;
    }
    const allowed = labels.get(s.metric) ?? new Set<string>();
    for (const l of s.labels) if (!allowed.has(l)) out.push(`${s.metric} has no label ${l}`);
    for (const l of allowed) known.add(l);
  }
  if (out.length === 0) for (const l of use.grouping) if (!known.has(l)) out.push(`groups by ${l}, which none of its metrics carries`);
  return out;
}

test('every alert expression and dashboard query parses and reads only metrics and labels the running operator exposes', async (t) => {
  // A real operator process, leading, with a target: scrape what it serves.
  const cluster = await testCluster();
  await installCrd(cluster.kubeConfig);
  const namespace = `flipt-alerts-${randomBytes(3).toString('hex')}`;
  await createFliptTarget(cluster.clients, { namespace, configMap: 'flipt', deployment: 'flipt' });
  const written = writeOperatorConfig({
    targets: [{ name: 'default', namespace, configMap: { name: 'flipt' }, workload: { kind: 'Deployment', name: 'flipt' } }],
    exchange: { enabled: true },
  });
  const operator: OperatorProcess = startOperator(written.path, cluster.kubeconfigPath);
  t.after(() => operator.stop());
  let text = '';
  await waitFor(async () => {
    text = await (await fetch(`http://127.0.0.1:${written.ports.metrics}/metrics`)).text();
    return /^flipt_operator_leader 1$/m.test(text);
  }, 'the operator to lead and serve /metrics').catch((err: Error) => {
    throw new Error(`${err.message}\noperator output:\n${operator.output().slice(-2000)}`);
  });
  const exposed = exposedNames(text);
  const labels = labelsByMetric();
  for (const name of labels.keys()) if (name !== 'up') assert.ok(exposed.has(name), `the registry's ${name} is served`);

  const rules = await renderRules();
  const { dashboard } = await renderDashboard();
  const queries: Array<{ where: string; expr: string }> = rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }));
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) queries.push({ where: `panel "${panel.title}" ${target.refId}`, expr: grafanaToPromql(target.expr) });
  }
  for (const variable of dashboard.templating.list) {
    if (variable.type !== 'query') continue;
    const text = typeof variable.query === 'string' ? variable.query : variable.query!.query;
    const call = /^label_values\((.+),\s*(\w+)\)$/.exec(text);
    assert.ok(call, `variable ${variable.name} is label_values(selector, label): ${text}`);
    // label_values(sel, l) reads label l of sel: as PromQL, a grouping by l.
    queries.push({ where: `variable ${variable.name}`, expr: `count by (${call[2]}) (${grafanaToPromql(call[1]!)})` });
  }
  assert.ok(queries.length > 30, `${queries.length} queries`);

  const analysed = await analysePromql([...queries.map((q) => q.expr), 'sum(rate(flipt_operator_no_such_metric[5m]))', 'flipt_operator_leader{target="x"}', 'foo{']);
  const failures = queries.flatMap((q, i) => problems(analysed[i]!, exposed, labels).map((p) => `${q.where}: ${p}\n    ${q.expr}`));
  assert.deepEqual(failures, [], failures.join('\n'));
  // The check itself catches what it must: an unknown metric, an unknown label, a parse error.
  const [unknown, badLabel, broken] = analysed.slice(queries.length).map((u) => problems(u, exposed, labels));
  assert.deepEqual(unknown, ['flipt_operator_no_such_metric is not exposed at /metrics']);
  assert.deepEqual(badLabel, ['flipt_operator_leader has no label target']);
  assert.match(broken![0]!, /does not parse/);
});

// ---- Each alert fires on its condition: promtool test rules, synthetic series, 1-minute samples ----

type Labels = Record<string, string>;
interface Check {
  at: string;
  alert: string;
  /** Expected firing alerts: their labels (besides alertname and severity) and summary. Empty: none. */
  fires: Array<{ labels?: Labels; summary: string }>;
}
interface Case {
  name: string;
  series: Array<[metric: string, labels: Labels, values: string]>;
  checks: Check[];
}

/** A series of this installation's job, unless its labels name another. */
function seriesName(metric: string, labels: Labels, job: string): string {
  const all = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return `${metric}{${[...('job' in labels ? [] : [job]), ...all].join(', ')}}`;
}

async function runCases(rules: Rule[], cases: Case[], file: string, job = JOB): Promise<void> {
  const rulesPath = await writeRules(rules, `${file}-rules.yaml`);
  const severity = Object.fromEntries(rules.map((r) => [r.alert, r.labels.severity]));
  const tests = cases.map((c) => ({
    name: c.name,
    interval: '1m',
    input_series: c.series.map(([metric, labels, values]) => ({ series: seriesName(metric, labels, job), values })),
    alert_rule_test: c.checks.map((check) => ({
      eval_time: check.at,
      alertname: check.alert,
      exp_alerts: check.fires.map((f) => ({ exp_labels: { severity: severity[check.alert], ...f.labels }, exp_annotations: { summary: f.summary } })),
    })),
  }));
  const testPath = join(dir, `${file}-test.yaml`);
  await writeFile(testPath, stringify({ rule_files: [rulesPath], evaluation_interval: '1m', tests }));
  const result = await promtool(['test', 'rules', testPath]);
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, /SUCCESS/);
}

const none: Check['fires'] = [];

const CASES: Case[] = [
  {
    name: 'FliptOperatorDown: every replica down for 5m',
    series: [
      ['up', { instance: 'a' }, '1 1 0x20'],
      ['up', { instance: 'b' }, '1 1 0x20'],
    ],
    checks: [
      { at: '6m', alert: 'FliptOperatorDown', fires: none },
      { at: '8m', alert: 'FliptOperatorDown', fires: [{ summary: 'No flipt-client-operator replica is up.' }] },
    ],
  },
  {
    name: 'FliptOperatorDown: one replica of two down is not the operator down',
    series: [
      ['up', { instance: 'a' }, '1 1 0x20'],
      ['up', { instance: 'b' }, '1x22'],
    ],
    checks: [{ at: '15m', alert: 'FliptOperatorDown', fires: none }],
  },
  {
    name: 'FliptOperatorDown: no replica discovered (only another job is up)',
    series: [['up', { instance: 'x', job: 'other' }, '1x10']],
    checks: [{ at: '6m', alert: 'FliptOperatorDown', fires: [{ summary: 'No flipt-client-operator replica is up.' }] }],
  },
  {
    name: 'FliptOperatorNoLeader: the leader steps down and nobody takes over',
    series: [
      ['flipt_operator_leader', { instance: 'a' }, '1x5 0x20'],
      ['flipt_operator_leader', { instance: 'b' }, '0x25'],
    ],
    checks: [
      { at: '10m', alert: 'FliptOperatorNoLeader', fires: none },
      { at: '12m', alert: 'FliptOperatorNoLeader', fires: [{ summary: 'No flipt-client-operator replica holds the leader lease.' }] },
    ],
  },
  {
    name: 'FliptOperatorNoLeader: a hand-over is not an outage',
    series: [
      ['flipt_operator_leader', { instance: 'a' }, '1x5 0x20'],
      ['flipt_operator_leader', { instance: 'b' }, '0x6 1x20'],
    ],
    checks: [{ at: '12m', alert: 'FliptOperatorNoLeader', fires: none }],
  },
  {
    name: 'FliptOperatorNoLeader: replicas up but the gauge absent',
    series: [['up', { instance: 'a' }, '1x20']],
    checks: [{ at: '6m', alert: 'FliptOperatorNoLeader', fires: [{ summary: 'No flipt-client-operator replica holds the leader lease.' }] }],
  },
  {
    name: 'FliptOperatorReconcileErrors: a third of the fliptclient reconciles fail',
    series: [
      ['flipt_operator_reconcile_total', { instance: 'a', controller: 'fliptclient', outcome: 'success' }, '0+10x40'],
      ['flipt_operator_reconcile_total', { instance: 'a', controller: 'fliptclient', outcome: 'error' }, '0+5x40'],
      ['flipt_operator_reconcile_total', { instance: 'a', controller: 'target', outcome: 'success' }, '0+2x40'],
    ],
    checks: [
      { at: '10m', alert: 'FliptOperatorReconcileErrors', fires: none },
      { at: '20m', alert: 'FliptOperatorReconcileErrors', fires: [{ labels: { controller: 'fliptclient' }, summary: 'fliptclient reconciles fail: 33.33% of them' }] },
    ],
  },
  {
    name: 'FliptOperatorReconcileErrors: an occasional error is not an alert',
    series: [
      ['flipt_operator_reconcile_total', { instance: 'a', controller: 'fliptclient', outcome: 'success' }, '0+10x40'],
      ['flipt_operator_reconcile_total', { instance: 'a', controller: 'fliptclient', outcome: 'error' }, '0+1x40'],
    ],
    checks: [{ at: '30m', alert: 'FliptOperatorReconcileErrors', fires: none }],
  },
  {
    name: 'FliptClientsNotReady: two clients of target main not Ready for 30m, counted once across replicas',
    series: [
      ['flipt_operator_fliptclients', { instance: 'a', target: 'main', ready: 'false' }, '2x50'],
      ['flipt_operator_fliptclients', { instance: 'b', target: 'main', ready: 'false' }, '2x50'],
      ['flipt_operator_fliptclients', { instance: 'a', target: 'main', ready: 'true' }, '5x50'],
      ['flipt_operator_fliptclients', { instance: 'a', target: 'edge', ready: 'false' }, '0x50'],
      ['flipt_operator_fliptclients', { instance: 'a', target: 'edge', ready: 'true' }, '9x50'],
    ],
    checks: [
      { at: '20m', alert: 'FliptClientsNotReady', fires: none },
      { at: '40m', alert: 'FliptClientsNotReady', fires: [{ labels: { target: 'main' }, summary: '2 FliptClients of target main are not Ready' }] },
    ],
  },
  {
    name: 'FliptOperatorTargetBlocked: target main without its ConfigMap for 15m; a short WriteFailed is not an alert',
    series: [
      ['flipt_operator_target_blocked', { instance: 'a', target: 'main', reason: 'ConfigMapMissing' }, '1x30'],
      ['flipt_operator_target_blocked', { instance: 'a', target: 'edge', reason: 'WriteFailed' }, '1x5 0x25'],
    ],
    checks: [
      { at: '10m', alert: 'FliptOperatorTargetBlocked', fires: none },
      {
        at: '20m',
        alert: 'FliptOperatorTargetBlocked',
        fires: [{ labels: { target: 'main', reason: 'ConfigMapMissing' }, summary: 'Target main cannot apply changes or restart Flipt: ConfigMapMissing' }],
      },
    ],
  },
  {
    name: 'FliptOperatorRolloutStuck: a rollout pending for more than 15 minutes',
    series: [
      ['flipt_operator_target_rollout_pending_seconds', { instance: 'a', target: 'main' }, '0+60x30'],
      ['flipt_operator_target_rollout_pending_seconds', { instance: 'a', target: 'edge' }, '0x30'],
    ],
    checks: [
      { at: '15m', alert: 'FliptOperatorRolloutStuck', fires: none },
      { at: '18m', alert: 'FliptOperatorRolloutStuck', fires: [{ labels: { target: 'main' }, summary: 'Flipt of target main has not finished its rollout for 18m 0s' }] },
    ],
  },
  {
    name: 'FliptOperatorExchangeErrors: 9% internal errors',
    series: [
      ['flipt_operator_exchange_requests_total', { instance: 'a', outcome: 'success' }, '0+100x40'],
      ['flipt_operator_exchange_requests_total', { instance: 'a', outcome: 'internal_error' }, '0+10x40'],
    ],
    checks: [
      { at: '5m', alert: 'FliptOperatorExchangeErrors', fires: none },
      { at: '20m', alert: 'FliptOperatorExchangeErrors', fires: [{ summary: 'The token exchange fails 9.091% of requests with 5xx' }] },
    ],
  },
  {
    name: 'FliptOperatorExchangeErrors: clients waiting for Ready (not_ready, 503) are not server errors',
    series: [
      ['flipt_operator_exchange_requests_total', { instance: 'a', outcome: 'success' }, '0+100x40'],
      ['flipt_operator_exchange_requests_total', { instance: 'a', outcome: 'not_ready' }, '0+100x40'],
    ],
    checks: [{ at: '20m', alert: 'FliptOperatorExchangeErrors', fires: none }],
  },
  {
    name: 'FliptOperatorTokenReviewUnavailable: TokenReview failing for 5m',
    series: [['flipt_operator_exchange_requests_total', { instance: 'a', outcome: 'review_unavailable' }, '0+3x30']],
    checks: [
      { at: '4m', alert: 'FliptOperatorTokenReviewUnavailable', fires: none },
      { at: '10m', alert: 'FliptOperatorTokenReviewUnavailable', fires: [{ summary: 'The token exchange cannot reach the TokenReview API.' }] },
    ],
  },
  {
    name: 'FliptOperatorTokenReviewUnavailable: old failures, none now',
    series: [['flipt_operator_exchange_requests_total', { instance: 'a', outcome: 'review_unavailable' }, '5x30']],
    checks: [{ at: '20m', alert: 'FliptOperatorTokenReviewUnavailable', fires: none }],
  },
  {
    name: "FliptOperatorTargetNearCapacity: target main's credentials Secret 85% full",
    series: [
      ['flipt_operator_target_fill_ratio', { instance: 'a', target: 'main', object: 'secret' }, '0.85x30'],
      ['flipt_operator_target_fill_ratio', { instance: 'a', target: 'main', object: 'configmap' }, '0.5x30'],
    ],
    checks: [
      { at: '10m', alert: 'FliptOperatorTargetNearCapacity', fires: none },
      { at: '20m', alert: 'FliptOperatorTargetNearCapacity', fires: [{ labels: { target: 'main', object: 'secret' }, summary: "Target main's secret is 85% full" }] },
    ],
  },
  {
    name: 'FliptOperatorRotationOverdue: a rotation due at 30m has not happened by 100m; none scheduled (0) is not overdue',
    series: [
      ['flipt_operator_next_rotation_timestamp_seconds', { instance: 'a', target: 'main' }, '1800x120'],
      ['flipt_operator_next_rotation_timestamp_seconds', { instance: 'a', target: 'edge' }, '86400x120'],
      ['flipt_operator_next_rotation_timestamp_seconds', { instance: 'a', target: 'idle' }, '0x120'],
    ],
    checks: [
      { at: '92m', alert: 'FliptOperatorRotationOverdue', fires: none },
      { at: '100m', alert: 'FliptOperatorRotationOverdue', fires: [{ labels: { target: 'main' }, summary: 'A scheduled rotation on target main is 1h 10m 0s late' }] },
    ],
  },
  {
    name: "FliptOperatorJwtExpiring: target main's earliest JWT stops being replaced and runs out; edge's keeps 20m ahead",
    series: [
      ['flipt_operator_next_jwt_expiry_timestamp_seconds', { instance: 'a', target: 'main' }, '1800x40'],
      ['flipt_operator_next_jwt_expiry_timestamp_seconds', { instance: 'a', target: 'edge' }, '1200+60x40'],
    ],
    checks: [
      { at: '25m', alert: 'FliptOperatorJwtExpiring', fires: none },
      { at: '26m', alert: 'FliptOperatorJwtExpiring', fires: none },
      { at: '27m', alert: 'FliptOperatorJwtExpiring', fires: [{ labels: { target: 'main' }, summary: 'A JWT of target main expires in 3m 0s' }] },
    ],
  },
];

test('each alert fires on the condition it names, after its `for`, and not on healthy series (promtool test rules)', async () => {
  const rules = await renderRules();
  const covered = new Set(CASES.flatMap((c) => c.checks.filter((check) => check.fires.length > 0).map((check) => check.alert)));
  assert.deepEqual([...covered].sort(), [...ALERTS].sort(), 'every alert has a scenario in which it fires');
  await runCases(rules, CASES, 'defaults');
});

test('thresholds, `for` and the selector are values: changed values change when the alerts fire', async () => {
  const capacity = CASES.find((c) => c.name.startsWith('FliptOperatorTargetNearCapacity'))!;
  const down = CASES.find((c) => c.name.startsWith('FliptOperatorDown: every replica'))!;
  const rules = await renderRules({ alerts: { targetNearCapacity: { ratio: 0.9 }, operatorDown: { for: '10m' } } });
  await runCases(
    rules,
    [
      { ...capacity, checks: [{ at: '20m', alert: 'FliptOperatorTargetNearCapacity', fires: none }] },
      {
        ...down,
        checks: [
          { at: '8m', alert: 'FliptOperatorDown', fires: none },
          { at: '13m', alert: 'FliptOperatorDown', fires: [{ summary: 'No flipt-client-operator replica is up.' }] },
        ],
      },
    ],
    'custom',
  );
  // Another selector: series of this job fire, the default job's do not.
  const selected = await renderRules({ selector: 'job="ops",namespace="operators"' });
  const blocked = CASES.find((c) => c.name.startsWith('FliptOperatorTargetBlocked'))!;
  await runCases(selected, [blocked], 'selector', 'job="ops", namespace="operators"');
  await runCases(selected, [{ ...blocked, checks: [{ at: '20m', alert: 'FliptOperatorTargetBlocked', fires: none }] }], 'selector-other-job');
});
