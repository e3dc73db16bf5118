/** Placeholder until the start-a-batch form lands (next commit). */
export function StartBatch() {
  return <p>Starting a batch from the dashboard comes next.</p>;
}
