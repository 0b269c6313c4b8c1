"""GraphQL over HTTP (the GraphQL Foundation's spec) as one explicit pipeline per request."""
