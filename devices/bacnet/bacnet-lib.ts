/**
 * The one place that imports @bacnet-js/client: its enums and bit strings, the client class
 * (CommonJS: depending on the loader the class is the default export itself or sits under
 * .default) and the low-level encoders the device server needs to build replies whose size it
 * can check against a max-APDU (the library's own reply helpers write into a fixed 1482-byte
 * buffer and cannot send an Abort).
 */
import BacnetModule from '@bacnet-js/client';
import type { BACNetAddress, BACNetAppData, ClientOptions, EncodeBuffer } from '@bacnet-js/client';
import * as apdu from '@bacnet-js/client/dist/lib/apdu.js';
import * as bvlc from '@bacnet-js/client/dist/lib/bvlc.js';
import * as npdu from '@bacnet-js/client/dist/lib/npdu.js';
import * as services from '@bacnet-js/client/dist/lib/services/index.js';

export {
  ApplicationTag,
  AbortReason,
  BvlcResultPurpose,
  ConfirmedServiceChoice,
  EngineeringUnits,
  ErrorClass,
  ErrorCode,
  NpduControlPriority,
  NpduControlBit,
  ObjectType,
  ObjectTypesSupported,
  PduType,
  PduConReqBit,
  PropertyIdentifier,
  Segmentation,
  ServicesSupported,
  StatusFlags,
  UnconfirmedServiceChoice,
  ASN1_ARRAY_ALL,
  StatusFlagsBitString,
  ObjectTypesSupportedBitString,
  ServicesSupportedBitString,
} from '@bacnet-js/client';
export type { BACNetAddress, BACNetAppData, BACNetObjectID, BACNetReadAccess, EncodeBuffer } from '@bacnet-js/client';
export { apdu, bvlc, npdu, services };

type BacnetClientInstance = InstanceType<typeof BacnetModule.default>;
export type BacnetClient = BacnetClientInstance;
const ClientCtor = ((BacnetModule as unknown as { default?: unknown }).default ?? BacnetModule) as new (options?: ClientOptions) => BacnetClientInstance;

export function newBacnetClient(options: ClientOptions): BacnetClient {
  return new ClientCtor(options);
}

/** Max-APDU codes (the 4 bits in a confirmed request) to octets. */
export const MAX_APDU_OCTETS: readonly number[] = [50, 128, 206, 480, 1024, 1476];

export function maxApduCode(octets: number): number {
  let code = 0;
  MAX_APDU_OCTETS.forEach((o, i) => {
    if (o <= octets) code = i;
  });
  return code;
}

export type AppValue = BACNetAppData;
export type Receiver = BACNetAddress;
export type Encoder = EncodeBuffer;
