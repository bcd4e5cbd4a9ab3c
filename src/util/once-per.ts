// A gate that opens at most once per interval: for a log line about something that can happen
// thousands of times a second (a flood of connections), so that the flood does not reach the log too.
export class OncePer {
  private openedAt = -Infinity;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(intervalMs: number, now: () => number = () => performance.now()) {
    this.intervalMs = intervalMs;
    this.now = now;
  }

  /** Whether to go ahead now; if so, the gate stays shut for the next intervalMs. */
  due(): boolean {
    const now = this.now();
    if (now - this.openedAt < this.intervalMs) return false;
    this.openedAt = now;
    return true;
  }
}
