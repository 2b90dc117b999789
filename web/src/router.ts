import { useEffect, useState } from 'preact/hooks';
import { href, parseHash, type Route } from './route.js';

export { href, parseHash, type Route } from './route.js';

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseHash(location.hash));
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

export function go(parts: readonly (string | number)[], params?: Record<string, string | number>): void {
  location.hash = href(parts, params);
}
