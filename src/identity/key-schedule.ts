// When the operator creates and retires JWT signing keys. Pure: the keys the Secret holds, the
// schedule from the operator config, whether any target needs keys, and the clock in; what to write
// and when to look again out. The schedule, for a key K and its successor S:
//   - S is created (and so published) publishAhead before K.signsUntil, and signs from K.signsUntil;
//     late (a leader that was down), S signs publishAhead after it is created, never sooner;
//   - K is retired at K.signsUntil + the longest JWT lifetime + Flipt's clock-skew leeway: by then
//     every JWT K signed has expired, even one signed at the last moment (its exp is capped there).
import { FLIPT_CLOCK_SKEW_LEEWAY_MS, type KeyTimes } from '../vocabulary/signing-keys.ts';

export interface KeySchedule {
  rotateEvery: number;
  publishAhead: number;
  /** The longest JWT lifetime of any target. */
  maxLifetime: number;
}

export interface KeysStep {
  /** Create a key with these times. */
  create?: KeyTimes;
  /** Kids to delete: retired, every JWT they signed expired. */
  retire: string[];
  requeueAfterMs?: number;
}

/** `needed`: a target uses JWTs, or a client still holds one; otherwise keys are only retired. */
export function decideSigningKeys(keys: ReadonlyArray<KeyTimes & { kid: string }>, schedule: KeySchedule, needed: boolean, now: number): KeysStep {
  const retire = keys.filter((k) => k.retireAt <= now).map((k) => k.kid);
  const live = keys.filter((k) => k.retireAt > now);
  const newest = live.reduce<KeyTimes | undefined>((a, k) => (!a || k.createdAt > a.createdAt ? k : a), undefined);
  const successorDueAt = (key: KeyTimes) => key.signsUntil - schedule.publishAhead;

  let create: KeyTimes | undefined;
  if (needed && (!newest || successorDueAt(newest) <= now)) {
    // Created when the successor is due or later, so never before the newest key's signsUntil.
    const signsFrom = now + schedule.publishAhead;
    const signsUntil = signsFrom + schedule.rotateEvery;
    create = { createdAt: now, signsFrom, signsUntil, retireAt: signsUntil + schedule.maxLifetime + FLIPT_CLOCK_SKEW_LEEWAY_MS };
  }

  const after = create ? [...live, create] : live;
  const newestAfter = create ?? newest;
  const events = after.map((k) => k.retireAt);
  if (needed && newestAfter) events.push(successorDueAt(newestAfter));
  const next = Math.min(...events);
  return { ...(create ? { create } : {}), retire, ...(Number.isFinite(next) ? { requeueAfterMs: Math.max(0, next - now) } : {}) };
}
