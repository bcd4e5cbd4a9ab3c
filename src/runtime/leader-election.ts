// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: acquire when the lease is
// free or expired, renew every retryPeriod, and give up leadership when renewal has failed for
// renewDeadline, so that two replicas never reconcile at once. Kept here: client-node has no elector.
//
// Why two replicas never overlap: the leader counts renewDeadline from the moment it sent its last
// successful renewal, and no request of its outlives that deadline; another replica counts
// leaseDuration (longer) from the moment it first saw that renewal, on its own clock, never from the
// timestamp written in the Lease, so skewed clocks cannot shorten the wait.
import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { withSignal } from '../kube/client.ts';
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
  /** When this replica sent its last successful renewal (or acquisition). */
  private renewedAt = 0;
  /** The Lease record last seen (holder and renewTime), and when it expires: leaseDuration after it was first seen, on this clock. */
  private observed: { record: string; expiresAt: number } | undefined;

  constructor(options: LeaderElectionOptions) {
    this.options = options;
  }

  /** Resolves once this process leads; rejects if stopped first. */
  async acquire(): Promise<void> {
    const { retryPeriod, log, namespace, name } = this.options;
    let announced = false;
    while (!this.stopped) {
      if (await this.tryAcquireOrRenew(AbortSignal.timeout(this.options.renewDeadline))) {
        this.leading = true;
        log.info({ lease: `${namespace}/${name}` }, 'became leader');
        return;
      }
      if (!announced) log.info({ lease: `${namespace}/${name}` }, 'waiting to become leader');
      announced = true;
      // Try again every retryPeriod, and at the moment the holder's lease expires, not a period later.
      const untilExpiry = (this.observed?.expiresAt ?? Infinity) - this.options.clock.now() + 1;
      await this.sleep(Math.min(retryPeriod, Math.max(1, untilExpiry)));
    }
    throw new Error('leader election stopped');
  }

  /**
   * Renews until stopped (resolves true) or until leadership is lost (resolves false): at the latest
   * renewDeadline after the last renewal that succeeded was sent, in-flight requests included.
   */
  async keepLeading(): Promise<boolean> {
    const { retryPeriod, renewDeadline, log, clock } = this.options;
    while (!this.stopped) {
      const deadline = this.renewedAt + renewDeadline;
      await this.sleep(Math.min(retryPeriod, Math.max(0, deadline - clock.now())));
      if (this.stopped) break;
      const remaining = deadline - clock.now();
      if (remaining > 0 && (await this.tryAcquireOrRenew(AbortSignal.timeout(remaining)))) continue;
      if (clock.now() >= deadline) {
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
    // A renewal sent just before may land between the read and the write: read again, else the
    // successor waits out the whole leaseDuration.
    for (let attempt = 1; ; attempt++) {
      try {
        const lease = await api.readNamespacedLease({ name, namespace });
        if (lease.spec?.holderIdentity !== identity) return;
        lease.spec = { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: new V1MicroTime(this.options.clock.now()) };
        await api.replaceNamespacedLease({ name, namespace, body: lease });
        return;
      } catch (err) {
        if (isConflict(err) && attempt < 3) continue;
        this.options.log.warn({ err: describeError(err) }, 'could not release the lease');
        return;
      }
    }
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const { api, namespace, name, identity, leaseDuration } = this.options;
    const sentAt = this.options.clock.now();
    const now = new V1MicroTime(sentAt);
    const options = withSignal(signal);
    const leaseDurationSeconds = Math.ceil(leaseDuration / 1000);
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace }, options);
    } catch (err) {
      if (!isNotFound(err)) return this.failed(err);
      try {
        await api.createNamespacedLease(
          { namespace, body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 } } },
          options,
        );
        this.renewedAt = sentAt;
        return true;
      } catch (createErr) {
        return this.failed(createErr);
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    const record = `${holder ?? ''}@${spec.renewTime ? new Date(spec.renewTime).toISOString() : ''}`;
    if (this.observed?.record !== record) this.observed = { record, expiresAt: this.options.clock.now() + (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000 };
    const expired = this.observed.expiresAt < this.options.clock.now();
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
      await api.replaceNamespacedLease({ name, namespace, body: lease }, options);
      this.renewedAt = sentAt;
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
