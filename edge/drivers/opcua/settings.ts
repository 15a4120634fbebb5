/**
 * OPC UA connection and address settings (TypeBox). Fields with defaults are Optional so the
 * driver works whether or not the config loader filled the defaults in; `resolveConnection`
 * is the one place those defaults are applied.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { PointValueType } from '../driver.js';

export const OPCUA_SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;
export const OPCUA_SECURITY_POLICIES = ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const;

export type OpcuaSecurityMode = (typeof OPCUA_SECURITY_MODES)[number];
export type OpcuaSecurityPolicy = (typeof OPCUA_SECURITY_POLICIES)[number];

export const OpcuaConnectionSchema = Type.Object(
  {
    endpointUrl: Type.String({
      pattern: '^opc\\.tcp://.+',
      description: 'Server endpoint, e.g. opc.tcp://coldroom.local:4840/UA/ColdRoom',
    }),
    securityMode: Type.Optional(
      Type.Union(OPCUA_SECURITY_MODES.map((m) => Type.Literal(m)), {
        default: 'None',
        description: 'Message security mode; Sign/SignAndEncrypt need a policy other than None',
      }),
    ),
    securityPolicy: Type.Optional(
      Type.Union(OPCUA_SECURITY_POLICIES.map((p) => Type.Literal(p)), {
        default: 'None',
        description: 'Security policy of the endpoint to use',
      }),
    ),
    username: Type.Optional(Type.String({ minLength: 1, description: 'User name (anonymous when absent)' })),
    password: Type.Optional(Type.String({ description: 'Password for username' })),
    publishingIntervalMs: Type.Optional(
      Type.Integer({ minimum: 10, default: 1000, description: 'Subscription publishing interval' }),
    ),
    requestTimeoutMs: Type.Optional(
      Type.Integer({ minimum: 100, default: 5000, description: 'Timeout of each service request (read, write, browse)' }),
    ),
    pkiDir: Type.Optional(
      Type.String({ minLength: 1, description: 'Client PKI folder (own certificate, trusted/rejected peers); default <dataDir>/pki/opcua' }),
    ),
    automaticallyAcceptUnknownCertificate: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Trust server certificates not yet in <pkiDir>/trusted. Off: move the certificate from <pkiDir>/rejected to trusted',
      }),
    ),
    sessionTimeoutMs: Type.Optional(
      Type.Integer({ minimum: 1000, default: 60000, description: 'Requested session timeout; the server keeps subscriptions this long during an outage' }),
    ),
    subscriptionKeepAliveMs: Type.Optional(
      Type.Integer({
        minimum: 100,
        default: 5000,
        description: 'The server confirms an idle subscription this often; one silent for 3 times this is recreated',
      }),
    ),
    reconnectInitialDelayMs: Type.Optional(
      Type.Integer({ minimum: 10, default: 1000, description: 'First delay before reconnecting after a connection loss' }),
    ),
    reconnectMaxDelayMs: Type.Optional(
      Type.Integer({ minimum: 100, default: 10000, description: 'Upper bound of the exponential reconnect delay' }),
    ),
  },
  { additionalProperties: false, description: 'OPC UA client connection' },
);

export type OpcuaConnection = Static<typeof OpcuaConnectionSchema>;

/** OPC UA built-in types a point may declare, and the point value each becomes (DateTime as ISO text, ids and text as strings). */
export const OPCUA_VALUE_TYPES = {
  Boolean: 'boolean',
  SByte: 'int8',
  Byte: 'uint8',
  Int16: 'int16',
  UInt16: 'uint16',
  Int32: 'int32',
  UInt32: 'uint32',
  Int64: 'int64',
  UInt64: 'uint64',
  Float: 'float',
  Double: 'double',
  String: 'string',
  DateTime: 'string',
  LocalizedText: 'string',
  NodeId: 'string',
  Guid: 'string',
  ByteString: 'string',
} as const satisfies Record<string, PointValueType>;

export const OpcuaAddressSchema = Type.Object(
  {
    nodeId: Type.String({ minLength: 1, description: 'Node id of the variable, e.g. ns=1;s=ColdRoom.Temperature' }),
    dataType: Type.Optional(
      Type.Union(
        Object.keys(OPCUA_VALUE_TYPES).map((name) => Type.Literal(name as keyof typeof OPCUA_VALUE_TYPES)),
        { description: "The variable's OPC UA data type (Boolean, Int32, Double, String, ...). Required when the gateway is a Sparkplug node: births declare it before the first value is read" },
      ),
    ),
    samplingIntervalMs: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Server-side sampling interval of the monitored item; default: the point poll interval' }),
    ),
    deadband: Type.Optional(
      Type.Object(
        {
          type: Type.Union([Type.Literal('absolute'), Type.Literal('percent')], {
            description: 'absolute: in raw units; percent: of the EURange the server declares for the variable',
          }),
          value: Type.Number({ minimum: 0, description: 'Deadband threshold' }),
        },
        { additionalProperties: false, description: 'Server-side data change filter' },
      ),
    ),
  },
  { additionalProperties: false, description: 'OPC UA variable address' },
);

export type OpcuaAddress = Static<typeof OpcuaAddressSchema>;

/** Connection settings with every default applied. */
export interface ResolvedOpcuaConnection {
  readonly endpointUrl: string;
  readonly securityMode: OpcuaSecurityMode;
  readonly securityPolicy: OpcuaSecurityPolicy;
  readonly username?: string;
  readonly password?: string;
  readonly publishingIntervalMs: number;
  readonly requestTimeoutMs: number;
  readonly pkiDir: string;
  readonly automaticallyAcceptUnknownCertificate: boolean;
  readonly sessionTimeoutMs: number;
  readonly subscriptionKeepAliveMs: number;
  readonly reconnectInitialDelayMs: number;
  readonly reconnectMaxDelayMs: number;
}

export function resolveConnection(c: OpcuaConnection, defaultPkiDir: string): ResolvedOpcuaConnection {
  const initial = c.reconnectInitialDelayMs ?? 1000;
  return {
    endpointUrl: c.endpointUrl,
    securityMode: c.securityMode ?? 'None',
    securityPolicy: c.securityPolicy ?? 'None',
    ...(c.username === undefined ? {} : { username: c.username, password: c.password ?? '' }),
    publishingIntervalMs: c.publishingIntervalMs ?? 1000,
    requestTimeoutMs: c.requestTimeoutMs ?? 5000,
    pkiDir: c.pkiDir ?? defaultPkiDir,
    automaticallyAcceptUnknownCertificate: c.automaticallyAcceptUnknownCertificate ?? false,
    sessionTimeoutMs: c.sessionTimeoutMs ?? 60000,
    subscriptionKeepAliveMs: c.subscriptionKeepAliveMs ?? 5000,
    reconnectInitialDelayMs: initial,
    reconnectMaxDelayMs: Math.max(initial, c.reconnectMaxDelayMs ?? 10000),
  };
}
