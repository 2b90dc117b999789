import { type NamedTensors, toJsonValues } from '../runtime/tensor.js';

/** Open Inference Protocol output tensors: flat row-major data, no `parameters` (Triton clients choke on them). */
export function toTensorOutputs(
  outputs: NamedTensors,
): { name: string; datatype: string; shape: number[]; data: unknown[] }[] {
  return Object.entries(outputs).map(([name, tensor]) => ({
    name,
    datatype: tensor.datatype,
    shape: [...tensor.shape],
    data: toJsonValues(tensor),
  }));
}

/**
 * One object per input row, keyed by output name. An output of shape [N] or [N, 1] gives a value
 * per row; [N, k…] gives the row's k… values as a flat list. An output without a per-row first
 * dimension is repeated whole on every row.
 */
export function toRowOutputs(outputs: NamedTensors, rows: number): Record<string, unknown>[] {
  const result = Array.from({ length: rows }, () => ({}) as Record<string, unknown>);
  for (const [name, tensor] of Object.entries(outputs)) {
    const values = toJsonValues(tensor);
    const perRow = tensor.shape[0] === rows && rows > 0;
    const width = perRow ? values.length / rows : values.length;
    for (let r = 0; r < rows; r += 1) {
      const slice = perRow ? values.slice(r * width, (r + 1) * width) : values;
      result[r]![name] = width === 1 && (perRow ? tensor.shape.length <= 2 : true) ? slice[0] : slice;
    }
  }
  return result;
}
