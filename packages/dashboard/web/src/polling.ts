import { useEffect, useRef } from 'preact/hooks';

/**
 * Calls `load` now and then every `intervalMs` while it answers true (something still runs); stops
 * when it answers false, and starts again when `deps` change. Errors keep the poll going.
 */
export function usePolling(load: () => Promise<boolean>, intervalMs: number, deps: unknown[]): void {
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      let again = true;
      try {
        again = await latest.current();
      } catch {
        again = true;
      }
      if (!stopped && again) timer = setTimeout(() => void tick(), intervalMs);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, deps);
}
