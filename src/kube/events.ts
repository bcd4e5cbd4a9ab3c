// Kubernetes Events (events.k8s.io/v1) about our objects, so `kubectl describe` tells the story.
// Messages are written by our own code and never carry credentials. Failures to record an Event are
// logged at debug level and otherwise ignored: an Event is a courtesy, never a reason to fail a
// reconcile, or to compete with reconciles for the API server in a burst.
import { randomBytes } from 'node:crypto';
import { V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { JsonRequests } from './client.ts';
import { describeError } from './errors.ts';

export interface EventSubject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; uid?: string };
}

export type EventType = 'Normal' | 'Warning';

/** Events being sent at once, and waiting at most: an Event is best effort, a burst must not flood the API server. */
const CONCURRENCY = 4;
const MAX_WAITING = 1_000;
/** The longest note the API server takes, in bytes of UTF-8. */
const NOTE_LIMIT_BYTES = 1024;

export class EventRecorder {
  private readonly api: JsonRequests;
  private readonly log: Logger;
  private readonly instance = process.env.POD_NAME ?? 'flipt-client-operator';
  private readonly waiting: Array<() => Promise<void>> = [];
  private sending = 0;
  private dropped = 0;

  constructor(api: JsonRequests, log: Logger) {
    this.api = api;
    this.log = log;
  }

  /** Queues the Event; it is sent a few at a time, and dropped (counted in a log line) when too many wait. */
  record(subject: EventSubject, type: EventType, reason: string, note: string, action = reason): void {
    const { name, namespace, uid } = subject.metadata ?? {};
    if (!name || !namespace) return;
    if (this.waiting.length >= MAX_WAITING) {
      if (this.dropped++ % 100 === 0) this.log.warn({ dropped: this.dropped }, 'too many Events waiting to be sent; dropping some');
      return;
    }
    const eventTime = new V1MicroTime();
    this.waiting.push(async () => {
      try {
        await this.api.post(`/apis/events.k8s.io/v1/namespaces/${namespace}/events`, {
          apiVersion: 'events.k8s.io/v1',
          kind: 'Event',
          metadata: { name: `${name}.${eventTime.getTime().toString(16)}${randomBytes(3).toString('hex')}`, namespace },
          // Serialised as the API's MicroTime (microseconds), which a plain Date's milliseconds are not.
          eventTime,
          reportingController: 'flipt.io/flipt-client-operator',
          reportingInstance: this.instance,
          action,
          reason,
          note: withinNoteLimit(note),
          type,
          regarding: { apiVersion: subject.apiVersion, kind: subject.kind, name, namespace, ...(uid ? { uid } : {}) },
        });
      } catch (err) {
        this.log.debug({ err: describeError(err), reason, object: `${namespace}/${name}` }, 'could not record event');
      }
    });
    this.sendMore();
  }

  private sendMore(): void {
    while (this.sending < CONCURRENCY && this.waiting.length > 0) {
      const send = this.waiting.shift()!;
      this.sending++;
      void send().finally(() => {
        this.sending--;
        this.sendMore();
      });
    }
  }
}

/** A longer note would have the API server refuse the Event: cut to NOTE_LIMIT_BYTES, between characters. */
function withinNoteLimit(note: string): string {
  if (Buffer.byteLength(note) <= NOTE_LIMIT_BYTES) return note;
  let bytes = 0;
  let end = 0;
  for (const character of note) {
    bytes += Buffer.byteLength(character);
    if (bytes > NOTE_LIMIT_BYTES) break;
    end += character.length;
  }
  return note.slice(0, end);
}
