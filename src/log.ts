// JSON logs with pino. Code never logs credentials; as a second line of defence every line is
// scrubbed of anything shaped like one of ours (64 hex characters) or like a JWT before it is written.
import { pino, type Logger } from 'pino';
import { redactCredentials } from './kube/redact.ts';

export function createLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    name: 'flipt-client-operator',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'clientToken', 'serviceAccountToken'], censor: '[REDACTED]' },
    hooks: { streamWrite: redactCredentials },
  });
}
