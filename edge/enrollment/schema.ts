/**
 * The bootstrap config a gateway starts with before it has an identity: a gateway.yaml holding
 * only an `enrollment` section. On first start (`swarmgate edge --config gateway.yaml`) the
 * gateway enrolls with it and the file is replaced by the config the hub issued.
 */
import { Type, type Static } from '@sinclair/typebox';

export const EnrollmentBootstrapSchema = Type.Object(
  {
    hub: Type.String({ pattern: '^https?://', description: "The hub API's URL (https; http only to loopback, for tests)" }),
    token: Type.Optional(Type.String({ minLength: 1, description: 'The one-time token or claim URI (prefer tokenFile: this file is readable by the service)' })),
    tokenFile: Type.Optional(Type.String({ description: 'File holding the token or claim URI; deleted after a successful enrollment' })),
    caFingerprint: Type.Optional(Type.String({ pattern: '^sha256:([0-9A-Fa-f]{2}:?){32}$', description: "sha256 fingerprint of the hub's CA certificate, as printed with the token" })),
    caFile: Type.Optional(Type.String({ description: "PEM CA bundle that signed the hub's certificate (instead of a fingerprint)" })),
    requestedId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$', description: 'The gateway id to ask for when the token is not bound to one' })),
  },
  { additionalProperties: false, description: 'Enroll with the hub on first start' },
);

export type EnrollmentBootstrap = Static<typeof EnrollmentBootstrapSchema>;
