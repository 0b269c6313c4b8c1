"""GraphQL object types: thin views over stored documents."""
