// The one clock the reconcilers, the work queue and leader election read "now" from, handed to each by
// the operator; tests hand in their own.
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
