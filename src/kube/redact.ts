// What leaves the process as text (a log line, or an API server's message put in a status or an
// Event) never carries anything shaped like a credential: our tokens are 64 hex characters, JWTs
// start with a base64url JSON header, a private JWK has a "d" member. Code never puts one there; this
// is the second line of defence, for text the operator does not write itself (say, a webhook's
// message that echoes what it refused). Such a message may quote a Secret's data as the API server
// holds it, base64-encoded: a run of base64 that decodes to text holding a credential goes too.
// Nothing is assumed about what comes before a shape: in a serialised log line an escaped newline
// (`\n`) or an id prefix (`id_`) sits right against it, and a base64 run can start with such a
// character (or a `/` of a path) that shifts where its encoded bytes begin.
const CREDENTIAL_SHAPES = /(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])|eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*|\\*"d\\*"\s*:\s*\\*"[\w-]{16,}/g;
const CREDENTIAL_SHAPE = new RegExp(CREDENTIAL_SHAPES.source);
/** The shortest base64 that can hold a credential shape: 21 bytes (a "d" member, or a JWT's two dots), 28 characters. */
const BASE64_RUN = /[A-Za-z0-9+/]{28,}={0,2}/g;

export function redactCredentials(text: string): string {
  return text.replace(CREDENTIAL_SHAPES, '[REDACTED]').replace(BASE64_RUN, (run) => (holdsCredential(run) ? '[REDACTED]' : run));
}

/** Whether the run, read from any of the four places its encoded bytes may begin, decodes to a credential shape. */
function holdsCredential(run: string): boolean {
  for (let offset = 0; offset < 4; offset++) {
    if (CREDENTIAL_SHAPE.test(Buffer.from(run.slice(offset), 'base64').toString('latin1'))) return true;
  }
  return false;
}
