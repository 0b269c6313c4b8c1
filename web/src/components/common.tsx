import type { AnyVariables, CombinedError, TypedDocumentNode } from '@urql/core';
import { useMutation } from '@urql/preact';
import { useState } from 'preact/hooks';
import { describeError } from '../errors';

/** An API error in words, announced to screen readers. */
export function ErrorNote({ error }: { error?: CombinedError | null }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {describeError(error)}
    </p>
  );
}

/** Long text (a bio, a review) shortened to `limit` characters until the reader asks. */
export function MoreText({ text, limit = 600 }: { text: string; limit?: number }) {
  const [open, setOpen] = useState(false);
  const long = text.length > limit + 80;
  const shown = open || !long ? text : `${text.slice(0, limit).trimEnd()}…`;
  return (
    <div class="text">
      {shown.split(/\n{2,}/).map((paragraph, index) => (
        <p key={index}>{paragraph}</p>
      ))}
      {long && (
        <button type="button" class="link" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? 'Show less' : 'Show more'}
        </button>
      )}
    </div>
  );
}

/** A two-state button (Like, Follow): aria-pressed says which state it is in. */
export function ToggleButton(props: {
  pressed: boolean;
  label: string;
  pressedLabel: string;
  busy?: boolean;
  onToggle: () => void;
}) {
  return (
    <button
      type="button"
      class={props.pressed ? 'toggle on' : 'toggle'}
      aria-pressed={props.pressed}
      disabled={props.busy}
      onClick={props.onToggle}
    >
      {props.pressed ? props.pressedLabel : props.label}
    </button>
  );
}

/** A pair of mutations that switch a state on and off (like/unlike, follow/unfollow). */
export function useToggleMutation<Variables extends AnyVariables>(
  on: TypedDocumentNode<unknown, Variables>,
  off: TypedDocumentNode<unknown, Variables>,
) {
  const [onState, runOn] = useMutation(on);
  const [offState, runOff] = useMutation(off);
  return {
    busy: onState.fetching || offState.fetching,
    error: onState.error ?? offState.error,
    toggle: (isOn: boolean, variables: Variables) => (isOn ? runOff(variables) : runOn(variables)),
  };
}
