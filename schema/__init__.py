"""The Strawberry schema of the public contract (shared/contract/schema.graphql)."""
