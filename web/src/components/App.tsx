import { Provider } from '@urql/preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { openSession } from '../client';
import { loadToken, saveToken } from '../token';
import { BookScreen } from './BookScreen';

/** The reader's session (token) and the client made for it. */
export function App() {
  const [token, setToken] = useState(loadToken);
  const [notice, setNotice] = useState<string | null>(null);
  const session = useMemo(
    () =>
      openSession(token, () => {
        saveToken(null);
        setToken(null);
        setNotice('Your session has ended. Log in again to rate, review and like.');
      }),
    [token],
  );
  useEffect(() => session.close, [session]);

  const signIn = (next: string) => {
    saveToken(next);
    setNotice(null);
    setToken(next);
  };
  const signOut = () => {
    saveToken(null);
    setNotice(null);
    setToken(null);
  };
  return (
    <Provider value={session.client}>
      <BookScreen
        signedIn={token !== null}
        notice={notice}
        onSignIn={signIn}
        onSignOut={signOut}
      />
    </Provider>
  );
}
