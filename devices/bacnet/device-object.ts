/**
 * The Device object of one simulated controller: identity (vendor, model, name), what it
 * supports (services, object types, max-APDU, segmentation) and its object list. Max-APDU is
 * read through a function because the bacnet-no-segmentation fault lowers it at run time.
 */
import {
  ErrorCode,
  ObjectType,
  ObjectTypesSupported,
  ObjectTypesSupportedBitString,
  PropertyIdentifier as P,
  Segmentation,
  ServicesSupported,
  ServicesSupportedBitString,
  ApplicationTag,
  type AppValue,
  type BACNetObjectID,
} from './bacnet-lib.js';
import { arrayRead, enumerated, fail, objectId, text, unsigned, type BacnetObjectLike, type PropertyResult, type WriteResult } from './objects.js';

/** Swarmgate's simulators have no ASHRAE vendor id; 999 marks them as test equipment. */
export const SIM_VENDOR_ID = 999;
export const SIM_VENDOR_NAME = 'Swarmgate Simulated Controls';

export interface DeviceIdentity {
  readonly instance: number;
  readonly name: string;
  readonly description: string;
  readonly modelName: string;
  readonly location: string;
}

const BASE_SERVICES = [
  ServicesSupported.I_AM,
  ServicesSupported.WHO_IS,
  ServicesSupported.READ_PROPERTY,
  ServicesSupported.WRITE_PROPERTY,
  ServicesSupported.SUBSCRIBE_COV,
  ServicesSupported.CONFIRMED_COV_NOTIFICATION,
  ServicesSupported.UNCONFIRMED_COV_NOTIFICATION,
];
const SERVICES = new ServicesSupportedBitString(...BASE_SERVICES, ServicesSupported.READ_PROPERTY_MULTIPLE);
/** A device without ReadPropertyMultiple (the bacnet-no-rpm fault). */
const SERVICES_WITHOUT_RPM = new ServicesSupportedBitString(...BASE_SERVICES);
const OBJECT_TYPES = new ObjectTypesSupportedBitString(
  ObjectTypesSupported.DEVICE,
  ObjectTypesSupported.ANALOG_INPUT,
  ObjectTypesSupported.ANALOG_OUTPUT,
  ObjectTypesSupported.ANALOG_VALUE,
  ObjectTypesSupported.BINARY_INPUT,
  ObjectTypesSupported.BINARY_OUTPUT,
  ObjectTypesSupported.BINARY_VALUE,
);

const PROPERTIES: readonly number[] = [
  P.OBJECT_IDENTIFIER,
  P.OBJECT_NAME,
  P.OBJECT_TYPE,
  P.SYSTEM_STATUS,
  P.VENDOR_NAME,
  P.VENDOR_IDENTIFIER,
  P.MODEL_NAME,
  P.FIRMWARE_REVISION,
  P.APPLICATION_SOFTWARE_VERSION,
  P.DESCRIPTION,
  P.LOCATION,
  P.PROTOCOL_VERSION,
  P.PROTOCOL_REVISION,
  P.PROTOCOL_SERVICES_SUPPORTED,
  P.PROTOCOL_OBJECT_TYPES_SUPPORTED,
  P.OBJECT_LIST,
  P.MAX_APDU_LENGTH_ACCEPTED,
  P.SEGMENTATION_SUPPORTED,
  P.APDU_TIMEOUT,
  P.NUMBER_OF_APDU_RETRIES,
  P.DEVICE_ADDRESS_BINDING,
  P.DATABASE_REVISION,
  P.PROPERTY_LIST,
];

export class DeviceObject implements BacnetObjectLike {
  readonly id: BACNetObjectID;
  readonly name: string;

  constructor(
    readonly identity: DeviceIdentity,
    private readonly objectIds: () => readonly BACNetObjectID[],
    private readonly maxApdu: () => number,
    private readonly hasRpm: () => boolean = () => true,
  ) {
    this.id = { type: ObjectType.DEVICE, instance: identity.instance };
    this.name = identity.name;
  }

  propertyIds(): readonly number[] {
    return PROPERTIES;
  }

  read(property: number, index: number): PropertyResult {
    if (!PROPERTIES.includes(property)) return fail(ErrorCode.UNKNOWN_PROPERTY);
    if (property === P.OBJECT_LIST) return arrayRead([this.id, ...this.objectIds()].map((o) => objectId(o.type, o.instance)), index);
    if (property === P.PROPERTY_LIST) {
      const listed = PROPERTIES.filter((p) => p !== P.OBJECT_IDENTIFIER && p !== P.OBJECT_NAME && p !== P.OBJECT_TYPE && p !== P.PROPERTY_LIST);
      return arrayRead(listed.map(enumerated), index);
    }
    if (index !== 0xffffffff) return fail(ErrorCode.PROPERTY_IS_NOT_AN_ARRAY);
    const id = this.identity;
    const values: Partial<Record<number, AppValue[]>> = {
      [P.OBJECT_IDENTIFIER]: [objectId(ObjectType.DEVICE, id.instance)],
      [P.OBJECT_NAME]: [text(id.name)],
      [P.OBJECT_TYPE]: [enumerated(ObjectType.DEVICE)],
      [P.SYSTEM_STATUS]: [enumerated(0)],
      [P.VENDOR_NAME]: [text(SIM_VENDOR_NAME)],
      [P.VENDOR_IDENTIFIER]: [unsigned(SIM_VENDOR_ID)],
      [P.MODEL_NAME]: [text(id.modelName)],
      [P.FIRMWARE_REVISION]: [text('1.0')],
      [P.APPLICATION_SOFTWARE_VERSION]: [text('swarmgate-sim 1')],
      [P.DESCRIPTION]: [text(id.description)],
      [P.LOCATION]: [text(id.location)],
      [P.PROTOCOL_VERSION]: [unsigned(1)],
      [P.PROTOCOL_REVISION]: [unsigned(14)],
      [P.PROTOCOL_SERVICES_SUPPORTED]: [{ type: ApplicationTag.BIT_STRING, value: this.hasRpm() ? SERVICES : SERVICES_WITHOUT_RPM }],
      [P.PROTOCOL_OBJECT_TYPES_SUPPORTED]: [{ type: ApplicationTag.BIT_STRING, value: OBJECT_TYPES }],
      [P.MAX_APDU_LENGTH_ACCEPTED]: [unsigned(this.maxApdu())],
      [P.SEGMENTATION_SUPPORTED]: [enumerated(Segmentation.NO_SEGMENTATION)],
      [P.APDU_TIMEOUT]: [unsigned(3000)],
      [P.NUMBER_OF_APDU_RETRIES]: [unsigned(3)],
      [P.DEVICE_ADDRESS_BINDING]: [],
      [P.DATABASE_REVISION]: [unsigned(1)],
    };
    const found = values[property];
    return found ? { ok: true, values: found } : fail(ErrorCode.UNKNOWN_PROPERTY);
  }

  write(property: number): WriteResult {
    return PROPERTIES.includes(property) ? fail(ErrorCode.WRITE_ACCESS_DENIED) : fail(ErrorCode.UNKNOWN_PROPERTY);
  }
}

