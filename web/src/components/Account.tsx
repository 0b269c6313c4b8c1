import { useMutation } from '@urql/preact';
import { useState } from 'preact/hooks';
import { LogInDocument, SignUpDocument, type ViewerFieldsFragment } from '../gql/graphql';
import { ErrorNote } from './common';

type Mode = 'closed' | 'logIn' | 'signUp';

/** Sign up, log in, log out: the header's account corner. */
export function Account(props: {
  viewer: ViewerFieldsFragment | null;
  onSignIn: (token: string) => void;
  onSignOut: () => void;
}) {
  const [mode, setMode] = useState<Mode>('closed');
  if (props.viewer) {
    return (
      <div class="account">
        <span>
          Signed in as <strong>{props.viewer.displayName}</strong>
        </span>
        <button type="button" onClick={props.onSignOut}>
          Log out
        </button>
      </div>
    );
  }
  return (
    <div class="account">
      <button type="button" aria-expanded={mode === 'logIn'} onClick={() => setMode(mode === 'logIn' ? 'closed' : 'logIn')}>
        Log in
      </button>
      <button type="button" aria-expanded={mode === 'signUp'} onClick={() => setMode(mode === 'signUp' ? 'closed' : 'signUp')}>
        Sign up
      </button>
      {mode !== 'closed' && <AccountForm key={mode} mode={mode} onSignIn={props.onSignIn} />}
    </div>
  );
}

function AccountForm({ mode, onSignIn }: { mode: 'logIn' | 'signUp'; onSignIn: (token: string) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [logIn, runLogIn] = useMutation(LogInDocument);
  const [signUp, runSignUp] = useMutation(SignUpDocument);
  const state = mode === 'logIn' ? logIn : signUp;
  const title = mode === 'logIn' ? 'Log in' : 'Sign up';

  const submit = async (event: Event) => {
    event.preventDefault();
    const token =
      mode === 'logIn'
        ? (await runLogIn({ username, password })).data?.logIn.token
        : (await runSignUp({ input: { username, password, displayName: displayName || null } })).data?.signUp
            .token;
    if (token) onSignIn(token);
  };
  return (
    <form class="account-form" onSubmit={submit} aria-label={title}>
      <label>
        Username
        <input name="username" autoComplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
      </label>
      <label>
        Password
        <input
          name="password"
          type="password"
          autoComplete={mode === 'logIn' ? 'current-password' : 'new-password'}
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
      </label>
      {mode === 'signUp' && (
        <label>
          Display name (optional)
          <input name="displayName" autoComplete="name" value={displayName} onInput={(e) => setDisplayName(e.currentTarget.value)} />
        </label>
      )}
      <button type="submit" disabled={state.fetching}>
        {title}
      </button>
      <ErrorNote error={state.error} />
    </form>
  );
}
