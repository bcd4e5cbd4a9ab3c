// A JWT whose signature no longer matches: one character its bytes depend on wholly is changed (the
// last one carries only two bits of the signature, so changing it may leave the bytes as they were).
export function tamperedSignature(jwt: string): string {
  const at = jwt.length - 10;
  return `${jwt.slice(0, at)}${jwt[at] === 'A' ? 'B' : 'A'}${jwt.slice(at + 1)}`;
}
