// What leaves the process as text (a log line, or an API server's message put in a status or an
// Event) never carries anything shaped like a credential: our tokens are 64 hex characters, JWTs
// start with a base64url JSON header. Code never puts one there; this is the second line of defence,
// for text the operator does not write itself (say, a webhook's message that echoes what it refused).
const CREDENTIAL_SHAPES = /\b[0-9a-f]{64}\b|\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*/g;

export function redactCredentials(text: string): string {
  return text.replace(CREDENTIAL_SHAPES, '[REDACTED]');
}
