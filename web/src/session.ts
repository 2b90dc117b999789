import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { ROLES, type Role, type WhoAmI } from './types.js';

/** Who is signed in (or the local admin when the server needs no token). */
export const SessionContext = createContext<WhoAmI>({ name: 'local', role: 'admin', auth: false });

export function useSession(): WhoAmI {
  return useContext(SessionContext);
}

/** Whether `held` includes the rights of `required` (roles are ranked, as on the server). */
export function satisfies(held: Role, required: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(required);
}
