import { isUnreachableError, type DependencyHealth } from '../dependency-health.js';
import type { ObjectWriter, Store } from './types.js';

/**
 * The same store, telling `health` whether its calls reach it: a call that fails because the
 * service could not be reached marks the store down (logged once, `sluice_dependency_up` 0,
 * `/readyz` names it), any answer marks it up. While it is down, a probe (`ping`) runs every
 * second, so the store is seen back even when no role has anything to write.
 */
export function watchStore(store: Store, health: DependencyHealth): Store {
  health.watch('store', () => store.ping());
  const observe = async <T>(call: () => Promise<T>): Promise<T> => {
    const startedMs = Date.now();
    try {
      const value = await call();
      health.answered('store');
      return value;
    } catch (error) {
      if (isUnreachableError(error)) health.unreachable('store', error, startedMs);
      else health.answered('store');
      throw error;
    }
  };
  const watchedWriter = (writer: ObjectWriter): ObjectWriter => ({
    get key() {
      return writer.key;
    },
    get bytes() {
      return writer.bytes;
    },
    write: (chunk) => observe(() => writer.write(chunk)),
    complete: () => observe(() => writer.complete()),
    abort: () => writer.abort(),
  });
  return {
    kind: store.kind,
    location: store.location,
    put: (key, body) => observe(() => store.put(key, body)),
    putIfAbsent: (key, body) => observe(() => store.putIfAbsent(key, body)),
    writer: (key) => watchedWriter(store.writer(key)),
    read: (key, range) => observe(() => store.read(key, range)),
    stream: (key, range) => observe(() => store.stream(key, range)),
    head: (key) => observe(() => store.head(key)),
    list: (prefix, options) => ({
      [Symbol.asyncIterator]() {
        const inner = store.list(prefix, options)[Symbol.asyncIterator]();
        return {
          next: () => observe(() => inner.next()),
          // A caller that stops early ends the listing (and whatever it holds open).
          return: async (value?: unknown) => (await inner.return?.(value)) ?? { done: true as const, value: undefined },
        };
      },
    }),
    delete: (keys) => observe(() => store.delete(keys)),
    deletePrefix: (prefix) => observe(() => store.deletePrefix(prefix)),
    ping: () => store.ping(),
    close: () => store.close(),
  };
}
