// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: acquire when the lease is
// free or expired, renew every retryPeriod, and give up leadership when renewal has failed for
// renewDeadline, so that two replicas never reconcile at once. Kept here: client-node has no elector.
import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeError, isConflict, isNotFound } from '../kube/errors.ts';
import type { Clock } from './clock.ts';

export interface LeaderElectionOptions {
  api: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  log: Logger;
  clock: Clock;
}

export class LeaderElector {
  private readonly options: LeaderElectionOptions;
  private stopped = false;
  private leading = false;
  private wake: (() => void) | undefined;

  constructor(options: LeaderElectionOptions) {
    this.options = options;
  }

  /** Resolves once this process leads; rejects if stopped first. */
  async acquire(): Promise<void> {
    const { retryPeriod, log, namespace, name } = this.options;
    let announced = false;
    while (!this.stopped) {
      if (await this.tryAcquireOrRenew()) {
        this.leading = true;
        log.info({ lease: `${namespace}/${name}` }, 'became leader');
        return;
      }
      if (!announced) log.info({ lease: `${namespace}/${name}` }, 'waiting to become leader');
      announced = true;
      await this.sleep(retryPeriod);
    }
    throw new Error('leader election stopped');
  }

  /** Renews until stopped (resolves true) or until leadership is lost (resolves false). */
  async keepLeading(): Promise<boolean> {
    const { retryPeriod, renewDeadline, log } = this.options;
    let lastRenew = this.options.clock.now();
    while (!this.stopped) {
      await this.sleep(retryPeriod);
      if (this.stopped) break;
      if (await this.tryAcquireOrRenew()) {
        lastRenew = this.options.clock.now();
      } else if (this.options.clock.now() - lastRenew > renewDeadline) {
        this.leading = false;
        log.error('lost leadership: could not renew the lease within renewDeadline');
        return false;
      }
    }
    return true;
  }

  /** Stops renewing and, while leading, hands the lease back so a successor need not wait for it to expire. */
  async release(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    if (!this.leading) return;
    this.leading = false;
    const { api, namespace, name, identity } = this.options;
    try {
      const lease = await api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      lease.spec = { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: new V1MicroTime(this.options.clock.now()) };
      await api.replaceNamespacedLease({ name, namespace, body: lease });
    } catch (err) {
      this.options.log.warn({ err: describeError(err) }, 'could not release the lease');
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { api, namespace, name, identity, leaseDuration } = this.options;
    const now = new V1MicroTime(this.options.clock.now());
    const leaseDurationSeconds = Math.ceil(leaseDuration / 1000);
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) return this.failed(err);
      try {
        await api.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 } },
        });
        return true;
      } catch (createErr) {
        return this.failed(createErr);
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    const renewedAt = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    const expired = renewedAt + (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000 < this.options.clock.now();
    if (holder && holder !== identity && !expired) return false;
    const takingOver = holder !== identity;
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds,
      renewTime: now,
      ...(takingOver ? { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
    };
    try {
      await api.replaceNamespacedLease({ name, namespace, body: lease });
      return true;
    } catch (err) {
      return this.failed(err);
    }
  }

  private failed(err: unknown): false {
    if (!isConflict(err)) this.options.log.warn({ err: describeError(err) }, 'lease request failed');
    return false;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
