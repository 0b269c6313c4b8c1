"""Helpers shared by the test modules; a test module imports from here, never from another
test module (tests/test_suite_layout.py checks it).

- `app`: the API in process (`running_app`, `app_settings`) and its GraphQL-over-HTTP client.
- `documents`: source documents inserted directly (books, authors, quick users, the catalog
  of the pipeline tests) and global ids.
- `operations`: the GraphQL documents the suite shares (every mutation, the book page).
- `figures`: aggregate figures as the API shows them, and what they must be.
- `snapshots`: the whole stored state (every document, the event stream), for "nothing written".
- `processes`: real API servers and workers as child processes, `books worker status`.
- `pipeline`: the world of a worker test (database, stream, catalog) and waiting helpers.
- `servers`: MongoDB and Redis servers of a test's own, to stop, crash and restart.
- `websocket`: a graphql-transport-ws client for `bookStatsChanged`.
- `clients`: the API and worker stack the JavaScript clients' tests run against.
- `browser`: headless Chromium (Debian's, driven by Playwright), axe-core, and the policy for
  a missing tool (skipped with how to install it; failed under CI=true).
- `event_contract`: contract/events.asyncapi.yaml as a checker of stream entries (conftest runs
  it on every event appended in the suite).
"""
