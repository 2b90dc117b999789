import { type Static, Type } from '@sinclair/typebox';
import { PathName } from './common.js';

/** The datasets area of the control API: labelled rows that validation gates score versions on. */

export const DatasetParams = Type.Object({ model: PathName, name: Type.String({ maxLength: 100 }) });

export const DatasetBody = Type.Object(
  {
    label: Type.String({ minLength: 1, maxLength: 256, description: 'Column holding the true value.' }),
    rows: Type.Array(Type.Record(Type.String(), Type.Unknown()), { minItems: 1, maxItems: 100_000 }),
  },
  { additionalProperties: false },
);

/** What a dataset upload stored (its row count, not its rows). */
export const DatasetResult = Type.Object({
  model: Type.String(),
  name: Type.String(),
  label: Type.String(),
  rows: Type.Integer(),
  replaced: Type.Boolean({ description: 'True when a dataset of that name was replaced.' }),
});

export type DatasetRequest = Static<typeof DatasetBody>;
export type WireDatasetResult = Static<typeof DatasetResult>;
