// Go-style durations ("10s", "1h30m", "1.5h", "250ms"), the notation Kubernetes users already write.
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

export const DURATION_PATTERN = WHOLE.source;

/**
 * Milliseconds in a Go-style duration, or undefined when the text is not one, or names more
 * milliseconds than a number holds exactly (Go refuses an overflowing duration too).
 */
export function parseDuration(text: string): number | undefined {
  if (parsed.has(text)) return parsed.get(text);
  const ms = parse(text);
  if (parsed.size < 1_000) parsed.set(text, ms);
  return ms;
}

/** Specs repeat a few durations thousands of times. */
const parsed = new Map<string, number | undefined>();

function parse(text: string): number | undefined {
  if (!WHOLE.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) total += Number(amount) * UNIT_MS[unit!]!;
  const ms = Math.round(total);
  return Number.isSafeInteger(ms) ? ms : undefined;
}
