import { describe, expect, it } from 'vitest';
import { Circuit, type CircuitState } from './circuit.js';

function circuitAt() {
  let now = 0;
  const changes: CircuitState[] = [];
  const circuit = new Circuit({ now: () => now, onChange: (state) => changes.push(state) });
  return { circuit, changes, advance: (ms: number) => (now += ms) };
}

describe('an upstream circuit', () => {
  it('goes down when the upstream stops answering, within a handful of calls', () => {
    const { circuit, changes } = circuitAt();
    for (let i = 0; i < 20; i++) circuit.report('answered', false);
    let calls = 0;
    while (circuit.state === 'up' && calls < 100) {
      circuit.report('fault', false);
      calls++;
    }
    expect(circuit.state).toBe('down');
    expect(calls).toBe(18);
    expect(circuit.available).toBe(false);
    expect(changes).toEqual(['down']);
  });

  it('a fresh one goes down after eight faults in a row (a replica dead from the start)', () => {
    const { circuit } = circuitAt();
    for (let i = 0; i < 7; i++) circuit.report('fault', false);
    expect(circuit.state).toBe('up');
    circuit.report('fault', false);
    expect(circuit.state).toBe('down');
  });

  it('stays up through a scatter of faults (one call in three fails at random)', () => {
    const { circuit } = circuitAt();
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    for (let i = 0; i < 10_000; i++) circuit.report(random() < 1 / 3 ? 'fault' : 'answered', false);
    expect(circuit.state).toBe('up');
  });

  it('is probed back with one call at a time once its time is up; an answer brings it up', () => {
    const { circuit, advance, changes } = circuitAt();
    for (let i = 0; i < 8; i++) circuit.report('fault', false);
    expect(circuit.msUntilProbe).toBe(1000);
    advance(999);
    expect(circuit.available).toBe(false);
    advance(1);
    expect(circuit.available).toBe(true);
    expect(circuit.state).toBe('probing');
    expect(circuit.take()).toBe(true);
    // The probe is out: nothing else is let through meanwhile.
    expect(circuit.available).toBe(false);
    circuit.report('answered', true);
    expect(circuit.state).toBe('up');
    expect(circuit.available).toBe(true);
    expect(changes).toEqual(['down', 'probing', 'up']);
  });

  it('a failed probe takes it down for twice as long; a probe that said nothing frees the slot', () => {
    const { circuit, advance } = circuitAt();
    for (let i = 0; i < 8; i++) circuit.report('fault', false);
    advance(1000);
    expect(circuit.available).toBe(true);
    const probe = circuit.take();
    circuit.report('none', probe);
    expect(circuit.available).toBe(true);
    circuit.report('fault', circuit.take());
    expect(circuit.state).toBe('down');
    expect(circuit.msUntilProbe).toBe(2000);
  });

  it('a late answer of a call sent before it went down does not bring it back', () => {
    const { circuit } = circuitAt();
    for (let i = 0; i < 8; i++) circuit.report('fault', false);
    circuit.report('answered', false);
    expect(circuit.state).toBe('down');
  });
});
