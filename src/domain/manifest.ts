import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { SlipwayError } from '../errors/index.js';

/**
 * The manifest that travels with an uploaded model: what the graph cannot say about itself
 * (metrics, lineage, which inputs accept missing values, sample rows). Every field is optional.
 */
export const ManifestSchema = Type.Object(
  {
    model: Type.Optional(Type.String()),
    description: Type.Optional(Type.String({ maxLength: 5000 })),
    task: Type.Optional(Type.String({ maxLength: 64 })),
    labels: Type.Optional(Type.Array(Type.Union([Type.String(), Type.Number()]), { maxItems: 10000 })),
    metrics: Type.Optional(Type.Record(Type.String(), Type.Number())),
    tags: Type.Optional(Type.Record(Type.String(), Type.String())),
    lineage: Type.Optional(
      Type.Object({
        dataset: Type.Optional(Type.Union([Type.String({ maxLength: 1000 }), Type.Null()])),
        git_commit: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Null()])),
        run_id: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
      }),
    ),
    inputs: Type.Optional(
      Type.Array(
        Type.Object({
          name: Type.String(),
          type: Type.Optional(Type.String()),
          nullable: Type.Optional(Type.Boolean()),
          description: Type.Optional(Type.String({ maxLength: 1000 })),
        }),
        { maxItems: 10000 },
      ),
    ),
    sample: Type.Optional(Type.Array(Type.Record(Type.String(), Type.Unknown()), { maxItems: 100 })),
  },
  { additionalProperties: true },
);

export type Manifest = Static<typeof ManifestSchema>;

const checkManifest = TypeCompiler.Compile(ManifestSchema);

/** Parses and checks a manifest given as JSON text; errors name the offending field. */
export function parseManifest(text: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SlipwayError('INVALID_JSON', `manifest is not valid JSON: ${(error as Error).message}`, {
      field: 'manifest',
    });
  }
  const first = checkManifest.Errors(value).First();
  if (first) {
    const field = `manifest${first.path.replaceAll('/', '.')}`;
    throw new SlipwayError('INVALID_ARGUMENT', `${field}: ${first.message}`, { field });
  }
  return value as Manifest;
}
