export { ReleaseService, type ReleaseView, type ReleaseState, type ReleaseServiceOptions } from './service.js';
export { DeploymentService, type CreateDeployment, type DeploymentTarget, type DeploymentView, type DeploymentGatewayView, type DeploymentState, type GatewayUpdateState } from './deployments.js';
export { RELEASES_MIGRATIONS } from './migrations.js';
