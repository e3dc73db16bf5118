import { describe, expect, it } from 'vitest';
import { consistentClassification } from './classify.js';

describe('a classification agrees with its own scores', () => {
  it('takes the label and the confidence from the highest score', () => {
    expect(
      consistentClassification({
        label: 'billing',
        confidence: 1,
        scores: { billing: 0.2, feature_request: 0.5, bug: 0.1 },
      }),
    ).toEqual({ label: 'feature_request', confidence: 0.5, scores: { billing: 0.2, feature_request: 0.5, bug: 0.1 } });
  });

  it("keeps the model's label when it ties for the highest score, with that score as its confidence", () => {
    const result = consistentClassification({ label: 'bug', confidence: 0.9, scores: { billing: 0.4, bug: 0.4 } });
    expect(result.label).toBe('bug');
    expect(result.confidence).toBe(0.4);
  });

  it('orders multi-label labels by score, the label first', () => {
    const result = consistentClassification({
      label: 'bug',
      labels: ['bug', 'billing'],
      confidence: 0.7,
      scores: { billing: 0.9, bug: 0.6, account: 0.1 },
    } as never) as { label: string; labels: string[]; confidence: number };
    expect(result.label).toBe('billing');
    expect(result.labels).toEqual(['billing', 'bug']);
    expect(result.confidence).toBe(0.9);
  });
});
