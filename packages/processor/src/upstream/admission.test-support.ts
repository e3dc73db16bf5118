import type { Lane } from '../fairness/fair-queue.js';
import { Admission, type Admitted } from './admission.js';
import { AdaptiveConcurrency } from './concurrency.js';
import { LearntLimits } from './learnt-limits.js';
import { RateLimiter } from './rate-limiter.js';

/**
 * An upstream's admission with the policies given (the others let everything through), for the
 * unit tests of each policy through the one queue that applies them.
 */
export function admissionOver(options: {
  rate?: RateLimiter;
  concurrency?: AdaptiveConcurrency;
  max?: number;
  learnt?: LearntLimits;
}) {
  const rate = options.rate ?? new RateLimiter({ requestsPerMinute: 0, tokensPerMinute: 0 });
  const concurrency =
    options.concurrency ??
    new AdaptiveConcurrency({ max: options.max ?? 1_000_000, initial: options.max ?? 1_000_000 });
  const learnt =
    options.learnt ?? new LearntLimits({ requests: false, tokens: false, target: { setLimits() {}, holdUntil() {} } });
  const admission = new Admission({ concurrency, rate, learnt });
  return {
    admission,
    rate,
    concurrency,
    acquire: (tokens: number, lane?: Lane, signal: AbortSignal = new AbortController().signal): Promise<Admitted> =>
      admission.acquire(tokens, signal, lane),
  };
}
