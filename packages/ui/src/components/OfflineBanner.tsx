import { useConnection } from '../connection.js';
import { ago, time } from '../format.js';
import { useNow } from '../hooks.js';

/** The one banner for an unreachable server, with how long it has been; gone on reconnect. */
export function OfflineBanner() {
  const { online, since } = useConnection();
  useNow(1000);
  if (online || since === null) return null;
  return (
    <div className="offline-banner" role="alert" data-testid="offline-banner">
      <strong>The Herald server cannot be reached</strong> since {time(since)} ({ago(since)}). What is shown is stale;
      it refreshes by itself when the server answers again.
    </div>
  );
}
