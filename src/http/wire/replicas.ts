import { type Static, Type } from '@sinclair/typebox';
import type { ClusterView } from '../../leadership/leadership.js';
import { Nullable } from './common.js';

/** The replicas area of the control API: which servers share the registry, and which one leads. */

export const ReplicasSchema = Type.Object(
  {
    replica: Type.String({ description: 'The replica that answered (SLIPWAY_REPLICA_NAME).' }),
    leading: Type.Boolean({ description: 'Whether the process that answered leads.' }),
    lead: Nullable(
      Type.Object({
        replica: Type.String(),
        holder: Type.String({ description: 'The leading process: replica/pid/random.' }),
        since: Type.String({ format: 'date-time' }),
      }),
    ),
    replicas: Type.Array(
      Type.Object({
        replica: Type.String(),
        holder: Type.String(),
        until: Type.String({ format: 'date-time', description: 'When its heartbeat lapses unless renewed.' }),
      }),
    ),
  },
  { additionalProperties: false },
);
export type WireReplicas = Static<typeof ReplicasSchema>;

export function toWireReplicas(replica: string, leading: boolean, view: ClusterView): WireReplicas {
  return {
    replica,
    leading,
    lead: view.lead ? { ...view.lead } : null,
    replicas: view.replicas.map((r) => ({ ...r })),
  };
}
