/**
 * Tensor datatypes in Open Inference Protocol spelling. These are the types Slipway can decode from
 * JSON and hand to onnxruntime; anything else in a graph's inputs or outputs makes the model unservable.
 */
export const DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP32',
  'FP64',
  'BYTES',
] as const;
export type Datatype = (typeof DATATYPES)[number];

/** One named input or output of a model. `-1` marks a dimension of any size (usually the batch). */
export interface TensorSpec {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
  /** Symbolic names of dynamic dimensions as the graph declares them (`N`, `batch`), when it does. */
  readonly dimNames?: readonly (string | null)[];
}

/** What a model takes and returns, read from its graph at upload. */
export interface Signature {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Class labels when the graph has a classifier node that declares them. */
  readonly labels?: readonly (string | number)[];
}
