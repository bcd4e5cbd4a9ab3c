// Kubernetes Events (events.k8s.io/v1) about our objects, so `kubectl describe` tells the story.
// Messages are written by our own code and never carry credentials. Failures to record an Event are
// logged and otherwise ignored: an Event is a courtesy, never a reason to fail a reconcile.
import { randomBytes } from 'node:crypto';
import { V1MicroTime, type EventsV1Api } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeError } from './errors.ts';

export interface EventSubject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; uid?: string };
}

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  private readonly api: EventsV1Api;
  private readonly log: Logger;
  private readonly instance: string;

  constructor(api: EventsV1Api, log: Logger, instance = process.env.POD_NAME ?? 'flipt-client-operator') {
    this.api = api;
    this.log = log;
    this.instance = instance;
  }

  async record(subject: EventSubject, type: EventType, reason: string, note: string, action = reason): Promise<void> {
    const { name, namespace, uid } = subject.metadata ?? {};
    if (!name || !namespace) return;
    try {
      await this.api.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: `${name}.${Date.now().toString(16)}${randomBytes(3).toString('hex')}`, namespace },
          eventTime: new V1MicroTime(),
          reportingController: 'flipt.io/flipt-client-operator',
          reportingInstance: this.instance,
          action,
          reason,
          note: note.slice(0, 1024),
          type,
          regarding: { apiVersion: subject.apiVersion, kind: subject.kind, name, namespace, ...(uid ? { uid } : {}) },
        },
      });
    } catch (err) {
      this.log.debug({ err: describeError(err), reason, object: `${namespace}/${name}` }, 'could not record event');
    }
  }
}
