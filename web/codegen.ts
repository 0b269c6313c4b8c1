/**
 * graphql-codegen: types and typed documents for the operations in src/operations/, from the
 * public contract. Generated files (src/gql/) are committed and never edited by hand;
 * `npm run codegen:check` fails when they disagree with the schema or the operations.
 * CODEGEN_OUT redirects the output (the check regenerates into a temporary folder).
 */
import { createHash } from 'node:crypto';
import type { CodegenConfig } from '@graphql-codegen/cli';
import type { Types } from '@graphql-codegen/plugin-helpers';
import { Kind, visit, type FieldNode, type SelectionSetNode } from 'graphql';

const TYPENAME: FieldNode = { kind: Kind.FIELD, name: { kind: Kind.NAME, value: '__typename' } };

/** Adds `__typename` to every selection set below an operation's root, as graphcache does
 * before sending a document: the client sends only the hash, so the registered document
 * itself must ask for the type names the normalized cache keys entities by. */
const addTypename: Types.DocumentTransformObject = {
  transform: ({ documents }) =>
    documents.map((source) => ({
      ...source,
      document: source.document && visit(source.document, {
        SelectionSet(node: SelectionSetNode, _key, parent) {
          const isRoot = parent && 'kind' in parent && parent.kind === Kind.OPERATION_DEFINITION;
          const hasTypename = node.selections.some(
            (s) => s.kind === Kind.FIELD && s.name.value === '__typename' && !s.alias,
          );
          return isRoot || hasTypename ? undefined : { ...node, selections: [...node.selections, TYPENAME] };
        },
      }),
    })),
};

const out = process.env.CODEGEN_OUT ?? 'src/gql/';

const config: CodegenConfig = {
  schema: '../contract/schema.graphql',
  documents: ['src/operations/*.graphql'],
  ignoreNoDocuments: false,
  silent: true,
  generates: {
    [out]: {
      preset: 'client',
      documentTransforms: [addTypename],
      presetConfig: {
        fragmentMasking: false,
        // persisted-documents.json: { sha256 hex of the document text: document text }, the
        // manifest the API registers; each generated document carries its hash in
        // __meta__.hash. A plain hex digest (the 'sha256' setting would prefix "sha256:"), as
        // Apollo's persistedQuery extension carries it.
        persistedDocuments: {
          hashAlgorithm: (text: string) => createHash('sha256').update(text).digest('hex'),
        },
      },
      config: {
        scalars: { DateTime: 'string', Date: 'string' },
        enumsAsTypes: true,
        useTypeImports: true,
        skipTypename: false,
      },
    },
  },
};

export default config;
