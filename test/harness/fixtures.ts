/** Domain batch lines for tests: a deterministic mix of the three models. */
export function domainLine(index: number, prefix = 'item'): { custom_id: string; body: Record<string, unknown> } {
  const custom_id = `${prefix}-${index}`;
  switch (index % 3) {
    case 0:
      return {
        custom_id,
        body: {
          model: 'classify',
          text: `Ticket ${index}: I was charged twice for my subscription this month and need a refund.`,
          labels: ['billing', 'bug', 'feature_request'],
        },
      };
    case 1:
      return {
        custom_id,
        body: {
          model: 'extract',
          text: `Contract ${index}: Acme Corp agrees to pay Globex Ltd 5000 USD by March 3. Signed by Maria Lopez.`,
          entities: ['company', { name: 'person', description: 'people who sign' }],
          instruction: 'Only names that appear verbatim.',
        },
      };
    default:
      return {
        custom_id,
        body: {
          model: 'summarize',
          text: `Call ${index}. The customer reported that exports fail after the upgrade. Support reproduced the issue on version 4.2. Engineering will ship a fix next week and the customer agreed to wait.`,
          instructions: 'One sentence.',
          max_tokens: 60,
        },
      };
  }
}

export function domainLines(count: number, prefix = 'item') {
  return Array.from({ length: count }, (_, i) => domainLine(i, prefix));
}
