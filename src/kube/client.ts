// Connecting to the API server and the few helpers every caller needs around client-node's APIs.
import {
  AppsV1Api,
  AuthenticationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  HttpMethod,
  KubeConfig,
  Observable,
  RequestContext,
  ServerConfiguration,
  PatchStrategy,
  RbacAuthorizationV1Api,
  VersionApi,
  createConfiguration,
  setHeaderMiddleware,
  setHeaderOptions,
  type Configuration,
  type ConfigurationOptions,
  type ObservableMiddleware,
} from '@kubernetes/client-node';
import type { RequestOptions } from 'node:https';
import { request } from 'undici';
import { statusCode } from './errors.ts';

export interface KubeClients {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
  coordination: CoordinationV1Api;
  authentication: AuthenticationV1Api;
  events: EventsV1Api;
  rbac: RbacAuthorizationV1Api;
  /** Plain JSON requests for the writes a burst makes per FliptClient: no typed models, no fetch streams. */
  json: JsonRequests;
}

export interface JsonRequests {
  /** POST (create); answers the created object. */
  post(path: string, body: unknown): Promise<unknown>;
  /** A JSON merge patch; answers the patched object. */
  mergePatch(path: string, body: unknown): Promise<unknown>;
}

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

const DISPATCHER_REFRESH_MS = 10 * 60_000;

/**
 * client-node 2.0 builds a new undici Agent for every API call, so every call pays a TLS handshake
 * and leaves an idle connection behind (hundreds of MiB under a burst). This reuses one dispatcher
 * per cluster and TLS identity, renewed every ten minutes so rotated certificate files are read again.
 * While the pooled one is fresh no Agent is built at all: building and closing one per call cost a
 * tenth of the operator's CPU in a burst.
 */
class PooledKubeConfig extends KubeConfig {
  private readonly dispatchers = new Map<string, { dispatcher: Dispatcher; createdAt: number }>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    const key = this.dispatcherKey();
    const cached = this.dispatchers.get(key);
    if (cached && Date.now() - cached.createdAt < DISPATCHER_REFRESH_MS) {
      // What client-node's own method sets besides the dispatcher: the user's credentials, read
      // again on every call (an exec plugin's or a projected token file's may have rotated).
      const options: RequestOptions = {};
      await this.applyToHTTPSOptions(options);
      if (options.auth) context.setHeaderParam('Authorization', `Basic ${Buffer.from(options.auth).toString('base64')}`);
      for (const [name, value] of Object.entries(options.headers ?? {})) context.setHeaderParam(name, `${value}`);
      context.setDispatcher(cached.dispatcher);
      return;
    }
    await super.applySecurityAuthentication(context);
    const built = context.getDispatcher();
    if (!built) return;
    const fresh = http1Only(built);
    context.setDispatcher(fresh);
    this.dispatchers.set(key, { dispatcher: fresh, createdAt: Date.now() });
    if (cached) void cached.dispatcher.close();
  }

  private dispatcherKey(): string {
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    return JSON.stringify([cluster?.server, cluster?.caFile, cluster?.caData, cluster?.skipTLSVerify, cluster?.tlsServerName, cluster?.proxyUrl, user?.certFile, user?.certData, user?.keyFile, user?.keyData]);
  }
}

/**
 * undici 8 speaks HTTP/2 wherever the server offers it, as the API server does. With Node 24.21's
 * HTTP/2 session, an operator stopped right after a burst blocked its event loop for two minutes in
 * the session's native send path (Http2Session::CopyDataIntoOutgoing) until a 32 GiB allocation
 * failed and it aborted with std::bad_alloc, its Lease never handed back. HTTP/1.1 over a pool of
 * keep-alive connections has no such path; a burst of 1,000 clients takes as long either way.
 */
function http1Only(dispatcher: Dispatcher): Dispatcher {
  return dispatcher.compose((dispatch) => (options, handler) => dispatch({ ...options, allowH2: false } as typeof options, handler));
}

/** In-cluster credentials when running in a pod and no kubeconfig is named, else the kubeconfig. */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kubeConfig = new PooledKubeConfig();
  if (kubeconfigPath) kubeConfig.loadFromFile(kubeconfigPath);
  else if (process.env.KUBERNETES_SERVICE_HOST && !process.env.KUBECONFIG) kubeConfig.loadFromCluster();
  else kubeConfig.loadFromDefault();
  if (!kubeConfig.getCurrentCluster()) throw new Error('no current cluster in the kubeconfig');
  return kubeConfig;
}

export function makeClients(kubeConfig: KubeConfig): KubeClients {
  return {
    kubeConfig,
    core: kubeConfig.makeApiClient(CoreV1Api),
    apps: kubeConfig.makeApiClient(AppsV1Api),
    custom: kubeConfig.makeApiClient(CustomObjectsApi),
    coordination: kubeConfig.makeApiClient(CoordinationV1Api),
    authentication: kubeConfig.makeApiClient(AuthenticationV1Api),
    events: kubeConfig.makeApiClient(EventsV1Api),
    rbac: kubeConfig.makeApiClient(RbacAuthorizationV1Api),
    json: jsonRequests(kubeConfig),
  };
}

/**
 * makeClients, except that every request carries the signal `current()` returns when it is sent: the
 * leader's clients, whose requests still in flight are aborted the moment it loses the lease, so that
 * none of its writes lands once a successor may lead.
 */
export function makeFencedClients(kubeConfig: KubeConfig, current: () => AbortSignal): KubeClients {
  const baseServer = new ServerConfiguration(kubeConfig.getCurrentCluster()!.server, {});
  const make = <T>(Api: new (configuration: Configuration) => T): T =>
    new Api(createConfiguration({ baseServer, authMethods: { default: kubeConfig }, middleware: [USER_AGENT, signalMiddleware(current)] }));
  return {
    kubeConfig,
    core: make(CoreV1Api),
    apps: make(AppsV1Api),
    custom: make(CustomObjectsApi),
    coordination: make(CoordinationV1Api),
    authentication: make(AuthenticationV1Api),
    events: make(EventsV1Api),
    rbac: make(RbacAuthorizationV1Api),
    json: jsonRequests(kubeConfig, current),
  };
}

function jsonRequests(kubeConfig: KubeConfig, current?: () => AbortSignal): JsonRequests {
  return {
    post: (path, body) => requestJson(kubeConfig, HttpMethod.POST, path, body, current?.()),
    mergePatch: (path, body) => requestJson(kubeConfig, HttpMethod.PATCH, path, body, current?.(), PatchStrategy.MergePatch),
  };
}

/** Options for one call: aborted with the signal (say, a deadline). */
export function withSignal(signal: AbortSignal): ConfigurationOptions {
  return { middleware: [signalMiddleware(() => signal)], middlewareMergeStrategy: 'append' };
}

const USER_AGENT_NAME = 'flipt-client-operator';
const USER_AGENT = setHeaderMiddleware('User-Agent', USER_AGENT_NAME);

function signalMiddleware(current: () => AbortSignal): ObservableMiddleware {
  return {
    pre: (context) => {
      context.setSignal(current());
      return new Observable(Promise.resolve(context));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
}

/** Asks the API server for its version; throws a one-line error naming the server when unreachable. */
export async function checkApiServer(kubeConfig: KubeConfig): Promise<string> {
  const server = kubeConfig.getCurrentCluster()?.server ?? '(unknown)';
  try {
    const version = await kubeConfig.makeApiClient(VersionApi).getCode();
    return version.gitVersion;
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? statusCode(err) ?? (err as Error).message?.split('\n')[0];
    throw new Error(`cannot reach the Kubernetes API server at ${server}: ${reason}`);
  }
}

/** GET as the kubeconfig's user, the answer parsed as plain JSON; throws an error carrying the HTTP status. */
export function getJson(kubeConfig: KubeConfig, path: string): Promise<unknown> {
  return requestJson(kubeConfig, HttpMethod.GET, path);
}

/**
 * POST a JSON body as the kubeconfig's user, the answer parsed as plain JSON: for a hot path (the
 * exchange's TokenReviews), without client-node's serializer, which builds a class instance per field.
 */
export function postJson(kubeConfig: KubeConfig, path: string, body: unknown, signal?: AbortSignal): Promise<unknown> {
  return requestJson(kubeConfig, HttpMethod.POST, path, body, signal);
}

async function requestJson(kubeConfig: KubeConfig, method: HttpMethod, path: string, body?: unknown, signal?: AbortSignal, contentType = 'application/json'): Promise<unknown> {
  const url = `${kubeConfig.getCurrentCluster()!.server}${path}`;
  const context = new RequestContext(url, method);
  await kubeConfig.applySecurityAuthentication(context);
  // undici's request, not fetch: the exchange sends one TokenReview per uncached token and a burst a
  // few writes per FliptClient, and fetch's WHATWG streams and headers cost measurably more per call.
  const res = await request(url, {
    method,
    headers: { 'user-agent': USER_AGENT_NAME, ...context.getHeaders(), ...(body !== undefined ? { 'content-type': contentType } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    dispatcher: context.getDispatcher(),
    ...(signal ? { signal } : {}),
  });
  if (res.statusCode < 200 || res.statusCode > 299) {
    const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]));
    throw Object.assign(new Error(`${method} ${path}: ${res.statusCode}`), { statusCode: res.statusCode, headers, body: await res.body.text() });
  }
  return res.body.json();
}

export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
