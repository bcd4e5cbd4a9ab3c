// An exchange configuration for tests and benchmarks: port 0, the operator's audience, generous limits.
import type { ExchangeConfig } from '../../src/config/operator-config.ts';

export const AUDIENCE = 'flipt-client-operator';

export function exchangeConfig(overrides: Partial<ExchangeConfig> = {}): ExchangeConfig {
  return {
    enabled: true,
    port: 0,
    audiences: [AUDIENCE],
    maxBodyBytes: 16384,
    maxConnections: 1024,
    cache: { ttl: 60_000, negativeTtl: 2_000, maxEntries: 1000 },
    rateLimit: { perServiceAccountPerMinute: 100_000, globalPerSecond: 100_000, failedPerSourcePerMinute: 100_000 },
    ...overrides,
  };
}
