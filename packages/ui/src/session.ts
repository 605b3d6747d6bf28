import { createContext, useContext } from 'react';
import type { Api } from './api.js';
import type { WhoAmI } from './types.js';

export interface Session {
  api: Api;
  who: WhoAmI;
  signOut: () => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in session');
  return session;
}
