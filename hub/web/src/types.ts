/**
 * The shapes the page reads from the API, derived from the API's own TypeBox schemas (the ones
 * its routes validate and serialise with, published at /docs), so they cannot drift. Type-only
 * imports: esbuild drops them, nothing of the hub ends up in the page's bundle.
 */
import type { Static } from '@sinclair/typebox';
import type { Action as WireAction } from '../../../shared/wire/messages.js';
import type { CommandRecordSchema, GatewaySchema, HistorySchema, MeSchema, ReadingSchema, RoleSchema } from '../../api/schemas.js';
import type { WorkOrderSchema } from '../../work-orders/service.js';
import type { IncidentMemberSchema, IncidentSchema } from '../../incidents/service.js';
import type { CreatedTokenSchema, EnrolledGatewaySchema, EnrollmentTokenSchema } from '../../enrollment/service.js';

export type Role = Static<typeof RoleSchema>;
export type Me = Static<typeof MeSchema>;
export type Action = WireAction;
/** The API's ReviewItemSchema (evidence absent in list responses). */
export type { ReviewItem } from '../../review/types.js';
export type Command = Static<typeof CommandRecordSchema>;
export type Gateway = Static<typeof GatewaySchema>;
export type Reading = Static<typeof ReadingSchema>;
export type HistoryResult = Static<typeof HistorySchema>;
export type WorkOrder = Static<typeof WorkOrderSchema>;
export type { DeploymentView as Deployment } from '../../releases/deployments.js';
export type EnrollmentToken = Static<typeof EnrollmentTokenSchema>;
export type CreatedToken = Static<typeof CreatedTokenSchema>;
export type EnrolledGateway = Static<typeof EnrolledGatewaySchema>;
export type Incident = Static<typeof IncidentSchema>;
export type IncidentDetail = Incident & { members: Static<typeof IncidentMemberSchema>[] };
