// `helm test`: every operator replica must answer 200 on /readyz. READYZ_HOST is a headless Service
// that publishes not-ready pods too, so each replica is asked itself and says why it is not ready.
// Retries until READYZ_TIMEOUT_SECONDS, since a test may start while replicas still sync their caches.
import { lookup } from 'node:dns/promises';

const host = process.env.READYZ_HOST;
const port = Number(process.env.READYZ_PORT);
const expected = Number(process.env.EXPECTED_REPLICAS ?? '1');
const deadline = Date.now() + Number(process.env.READYZ_TIMEOUT_SECONDS ?? '60') * 1000;

async function check() {
  const addresses = [...new Set((await lookup(host, { all: true })).map((a) => a.address))];
  const results = await Promise.all(
    addresses.map(async (address) => {
      const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}/readyz`;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
        return { url, ok: res.status === 200, detail: `${res.status} ${(await res.text()).trim()}`.trim() };
      } catch (err) {
        return { url, ok: false, detail: String(err.cause?.code ?? err.cause?.message ?? err.message) };
      }
    }),
  );
  const problems = results.filter((r) => !r.ok).map((r) => `${r.url}: ${r.detail}`);
  if (results.length < expected) problems.push(`${results.length} of ${expected} replicas found at ${host}`);
  return { results, problems };
}

for (;;) {
  let outcome;
  try {
    outcome = await check();
  } catch (err) {
    outcome = { results: [], problems: [`cannot resolve ${host}: ${err.code ?? err.message}`] };
  }
  if (outcome.problems.length === 0) {
    for (const r of outcome.results) console.log(`${r.url}: ${r.detail}`);
    console.log(`ready: ${outcome.results.length} replica(s)`);
    process.exit(0);
  }
  if (Date.now() >= deadline) {
    for (const p of outcome.problems) console.error(`not ready: ${p}`);
    process.exit(1);
  }
  await new Promise((resolve) => setTimeout(resolve, 2000));
}
