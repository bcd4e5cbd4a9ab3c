// Which targets a change to a FliptClient or a client Secret wakes. A target reads little of either
// (targetInputsOf, the Secret's token): a digest of that per object wakes it only when that changed,
// not for each status write of a burst. An entry lives exactly as long as its object.
import { createHash } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { secretValue } from '../kube/secret-data.ts';
import { targetNameOf, type FliptClient } from '../vocabulary/fliptclient.ts';
import { targetInputsOf } from './plan.ts';

export class TargetWakeups {
  private readonly seen = new Map<string, string>();
  private readonly targets: readonly string[];

  constructor(targets: readonly string[]) {
    this.targets = targets;
  }

  /** The targets to wake for a FliptClient as the cache holds it now (undefined: gone): any may gain or lose it, as spec.target can change. */
  forClient(key: string, live: FliptClient | undefined): readonly string[] {
    return this.changed(`client:${key}`, live && targetInputsOf(live)) ? this.targets : [];
  }

  /**
   * The target to wake for a client Secret as the cache holds it now (undefined: gone), given its
   * FliptClient (undefined: gone). Recorded even without the client: a Secret deleted after its
   * FliptClient (as the garbage collector does) must take its entry with it.
   */
  forClientSecret(key: string, live: V1Secret | undefined, client: FliptClient | undefined): string | undefined {
    const changed = this.changed(`secret:${key}`, live && secretValue(live, 'token'));
    return changed && client ? targetNameOf(client) : undefined;
  }

  /** Records what targets see of an object now (undefined: gone); true when that changed. */
  private changed(key: string, inputs: string | undefined): boolean {
    const digest = inputs === undefined ? undefined : createHash('sha256').update(inputs).digest('base64');
    if (this.seen.get(key) === digest) return false;
    if (digest === undefined) this.seen.delete(key);
    else this.seen.set(key, digest);
    return true;
  }
}
