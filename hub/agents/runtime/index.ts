/** The hub's agents wired to the running hub: ports over the store and CommandService, persisted learning state, the service. */
export { AgentService, PRIORITY_SCORE, type AgentServiceOptions } from './service.js';
export { HubCommandPort, StoreTelemetryPort, commandIdForKey, type CommandApi } from './port-adapters.js';
export { StoreExecutedSet, StoreTrackRecords, StoreAuditSink, type StoredAuditEntry } from './state.js';
export { sqlFor, type Sql } from '../../db/sql.js';
export { snapshotFromStore, OCCUPANCY_ROLE, type SnapshotOptions } from './store-snapshot.js';
export { loadFacilityModel } from './facility-file.js';
export { AGENT_STATE_MIGRATIONS } from './migrations.js';
