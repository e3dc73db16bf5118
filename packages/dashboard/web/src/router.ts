import { useEffect, useState } from 'preact/hooks';

/** Pages live in the URL's hash (`#/batches/ID`), so ingest serves one file and reloads keep the page. */
export type Route = { page: 'list' } | { page: 'batch'; id: string } | { page: 'new' };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '');
  const batch = /^\/batches\/([A-Za-z0-9_-]+)$/.exec(path);
  if (batch?.[1]) return { page: 'batch', id: batch[1] };
  if (path === '/new') return { page: 'new' };
  return { page: 'list' };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}
