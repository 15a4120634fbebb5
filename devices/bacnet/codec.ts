/**
 * Reply and notification frames (BVLC + NPDU + APDU) built with the library's encoders into a
 * roomy buffer, so the server can measure the APDU before sending and answer with an Abort when
 * it would not fit the requester's or its own max-APDU (we never segment).
 */
import {
  AbortReason,
  apdu,
  bvlc,
  BvlcResultPurpose,
  ConfirmedServiceChoice,
  NpduControlBit,
  NpduControlPriority,
  npdu,
  PduType,
  Segmentation,
  services,
  UnconfirmedServiceChoice,
  type AppValue,
  type BACNetObjectID,
  type BACNetReadAccess,
  type Encoder,
  type Receiver,
} from './bacnet-lib.js';

export interface Frame {
  readonly bytes: Buffer;
  /** Length of the APDU alone (what max-APDU limits). */
  readonly apduLength: number;
}

const ROOM = 16 * 1024;
const HOP_COUNT = 255;
/** Abort PDU type with the "sent by server" bit. */
const SERVER_ABORT = PduType.ABORT | 0x01;

function frame(receiver: Receiver | undefined, expectingReply: boolean, writeApdu: (b: Encoder) => void): Frame {
  const b: Encoder = { buffer: Buffer.alloc(ROOM), offset: 4 };
  npdu.encode(b, NpduControlPriority.NORMAL_MESSAGE | (expectingReply ? NpduControlBit.EXPECTING_REPLY : 0), receiver, undefined, HOP_COUNT);
  const start = b.offset;
  writeApdu(b);
  const apduLength = b.offset - start;
  bvlc.encode(b.buffer, receiver?.address ? BvlcResultPurpose.ORIGINAL_UNICAST_NPDU : BvlcResultPurpose.ORIGINAL_BROADCAST_NPDU, b.offset);
  return { bytes: Buffer.from(b.buffer.subarray(0, b.offset)), apduLength };
}

export function iAmFrame(receiver: Receiver | undefined, deviceInstance: number, maxApdu: number, vendorId: number): Frame {
  return frame(receiver, false, (b) => {
    apdu.encodeUnconfirmedServiceRequest(b, PduType.UNCONFIRMED_REQUEST, UnconfirmedServiceChoice.I_AM);
    services.IAm.encode(b, deviceInstance, maxApdu, Segmentation.NO_SEGMENTATION, vendorId);
  });
}

export function readPropertyAckFrame(receiver: Receiver, invokeId: number, object: BACNetObjectID, property: number, index: number, values: AppValue[]): Frame {
  return frame(receiver, false, (b) => {
    apdu.encodeComplexAck(b, PduType.COMPLEX_ACK, ConfirmedServiceChoice.READ_PROPERTY, invokeId);
    services.ReadProperty.encodeAcknowledge(b, object, property, index, values);
  });
}

export function readPropertyMultipleAckFrame(receiver: Receiver, invokeId: number, results: BACNetReadAccess[]): Frame {
  return frame(receiver, false, (b) => {
    apdu.encodeComplexAck(b, PduType.COMPLEX_ACK, ConfirmedServiceChoice.READ_PROPERTY_MULTIPLE, invokeId);
    services.ReadPropertyMultiple.encodeAcknowledge(b, results);
  });
}

export function simpleAckFrame(receiver: Receiver, service: number, invokeId: number): Frame {
  return frame(receiver, false, (b) => apdu.encodeSimpleAck(b, PduType.SIMPLE_ACK, service, invokeId));
}

export function errorFrame(receiver: Receiver, service: number, invokeId: number, errorClass: number, errorCode: number): Frame {
  return frame(receiver, false, (b) => {
    apdu.encodeError(b, PduType.ERROR, service, invokeId);
    services.ErrorService.encode(b, errorClass, errorCode);
  });
}

export function abortFrame(receiver: Receiver, invokeId: number, reason: AbortReason): Frame {
  return frame(receiver, false, (b) => apdu.encodeAbort(b, SERVER_ABORT, invokeId, reason));
}

/** A Reject PDU (same layout as an Abort: type, invoke id, reason), e.g. unrecognized-service (9). */
export function rejectFrame(receiver: Receiver, invokeId: number, reason: number): Frame {
  return frame(receiver, false, (b) => apdu.encodeAbort(b, PduType.REJECT, invokeId, reason));
}

export interface CovValue {
  readonly property: number;
  readonly value: AppValue[];
}

/**
 * The library's CovNotify.encode writes an array index when the index is "all" and a priority when
 * it is "none" (both inverted); an index and priority left undefined encode neither, as they should.
 */
export function covValues(values: readonly CovValue[]): Array<{ property: { id: number; index?: number }; value: AppValue[] }> {
  return values.map((v) => ({ property: { id: v.property }, value: v.value }));
}

export function unconfirmedCovFrame(receiver: Receiver, processId: number, deviceInstance: number, object: BACNetObjectID, timeRemaining: number, values: readonly CovValue[]): Frame {
  return frame(receiver, false, (b) => {
    apdu.encodeUnconfirmedServiceRequest(b, PduType.UNCONFIRMED_REQUEST, UnconfirmedServiceChoice.UNCONFIRMED_COV_NOTIFICATION);
    services.CovNotify.encode(b, processId, deviceInstance, object, timeRemaining, covValues(values));
  });
}
