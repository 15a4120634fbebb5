/**
 * BACnet objects of the simulated controllers (AI/AO/AV/BI/BO/BV): properties as application
 * data, a priority array with relinquish default for commandable objects, out-of-service and a
 * COV increment. Values come from the physics through a `sense` function (inputs, computed values)
 * or from the priority array (commandable objects). A property failure is data (an error
 * class/code), never an exception.
 */
import {
  ApplicationTag,
  ASN1_ARRAY_ALL,
  ErrorClass,
  ErrorCode,
  ObjectType,
  PropertyIdentifier as P,
  StatusFlags,
  StatusFlagsBitString,
  type AppValue,
  type BACNetObjectID,
} from './bacnet-lib.js';

export type PropertyResult = { readonly ok: true; readonly values: AppValue[] } | { readonly ok: false; readonly errorClass: ErrorClass; readonly errorCode: ErrorCode };
export type WriteResult = { readonly ok: true } | { readonly ok: false; readonly errorClass: ErrorClass; readonly errorCode: ErrorCode };

export const fail = (errorCode: ErrorCode, errorClass: ErrorClass = ErrorClass.PROPERTY): { ok: false; errorClass: ErrorClass; errorCode: ErrorCode } => ({ ok: false, errorClass, errorCode });
export const ok = (...values: AppValue[]): PropertyResult => ({ ok: true, values });

export const real = (value: number): AppValue => ({ type: ApplicationTag.REAL, value });
export const enumerated = (value: number): AppValue => ({ type: ApplicationTag.ENUMERATED, value });
export const unsigned = (value: number): AppValue => ({ type: ApplicationTag.UNSIGNED_INTEGER, value });
export const bool = (value: boolean): AppValue => ({ type: ApplicationTag.BOOLEAN, value });
export const text = (value: string): AppValue => ({ type: ApplicationTag.CHARACTER_STRING, value });
export const objectId = (type: number, instance: number): AppValue => ({ type: ApplicationTag.OBJECTIDENTIFIER, value: { type, instance } });
export const nul = (): AppValue => ({ type: ApplicationTag.NULL, value: null });

/** Anything the device server can read and write: the point objects and the device object. */
export interface BacnetObjectLike {
  readonly id: BACNetObjectID;
  readonly name: string;
  read(property: number, index: number): PropertyResult;
  write(property: number, values: readonly AppValue[], priority: number): WriteResult;
  /** Every property it has (for property-list and RPM "all"). */
  propertyIds(): readonly number[];
}

const ANALOG = new Set<number>([ObjectType.ANALOG_INPUT, ObjectType.ANALOG_OUTPUT, ObjectType.ANALOG_VALUE]);
const ALWAYS_COMMANDABLE = new Set<number>([ObjectType.ANALOG_OUTPUT, ObjectType.BINARY_OUTPUT]);
const INPUTS = new Set<number>([ObjectType.ANALOG_INPUT, ObjectType.BINARY_INPUT]);
/** bacnet-stack refuses priority 6 (minimum on/off); so do we. */
const RESERVED_PRIORITY = 6;

export interface PointSpec {
  readonly type: ObjectType;
  readonly instance: number;
  readonly name: string;
  readonly description: string;
  /** Analog only: EngineeringUnits. */
  readonly units?: number;
  /** Analog only: change that triggers a COV notification. Default 0.1. */
  readonly covIncrement?: number;
  /** AV/BV: has a priority array (AO/BO always do). */
  readonly commandable?: boolean;
  /** Commandable: value in effect when every priority slot is empty. */
  readonly relinquishDefault?: number;
  /** Range accepted for writes (analog). */
  readonly min?: number;
  readonly max?: number;
  /** Binary only. */
  readonly activeText?: string;
  readonly inactiveText?: string;
  /** Physics value (non-commandable objects); booleans as 0/1. */
  readonly sense?: () => number;
}

export class BacnetPoint implements BacnetObjectLike {
  readonly id: BACNetObjectID;
  readonly name: string;
  readonly analog: boolean;
  readonly commandable: boolean;
  /** Slots 1..16 at indexes 0..15; null = relinquished. */
  readonly priorityArray: Array<number | null> = Array.from({ length: 16 }, () => null);
  relinquishDefault: number;
  covIncrement: number;
  outOfService = false;
  /** Present value held while out of service. */
  private heldValue: number | undefined;

  constructor(readonly spec: PointSpec) {
    this.id = { type: spec.type, instance: spec.instance };
    this.name = spec.name;
    this.analog = ANALOG.has(spec.type);
    this.commandable = ALWAYS_COMMANDABLE.has(spec.type) || spec.commandable === true;
    this.relinquishDefault = spec.relinquishDefault ?? 0;
    this.covIncrement = spec.covIncrement ?? 0.1;
  }

  /** The value in effect (booleans as 0/1). */
  presentValue(): number {
    if (this.outOfService && this.heldValue !== undefined && !this.commandable) return this.heldValue;
    if (this.commandable) {
      const slot = this.priorityArray.find((v) => v !== null);
      return slot ?? this.relinquishDefault;
    }
    return this.spec.sense?.() ?? 0;
  }

  /** 1..16 of the slot in effect, or undefined when the relinquish default is. */
  activePriority(): number | undefined {
    const i = this.priorityArray.findIndex((v) => v !== null);
    return i < 0 ? undefined : i + 1;
  }

  /** A command at a priority (null relinquishes); the controller's own logic uses 16. */
  command(priority: number, value: number | null): void {
    this.priorityArray[priority - 1] = value;
  }

  statusFlags(): AppValue {
    const flags: StatusFlags[] = [];
    if (this.outOfService) flags.push(StatusFlags.OUT_OF_SERVICE);
    // Overridden: a command above the controller's own priority is in effect.
    const active = this.activePriority();
    if (active !== undefined && active < 16) flags.push(StatusFlags.OVERRIDDEN);
    return { type: ApplicationTag.BIT_STRING, value: new StatusFlagsBitString(...flags) };
  }

  presentValueData(): AppValue {
    const v = this.presentValue();
    return this.analog ? real(v) : enumerated(v !== 0 ? 1 : 0);
  }

  propertyIds(): readonly number[] {
    const ids: number[] = [P.OBJECT_IDENTIFIER, P.OBJECT_NAME, P.OBJECT_TYPE, P.PRESENT_VALUE, P.DESCRIPTION, P.STATUS_FLAGS, P.EVENT_STATE, P.RELIABILITY, P.OUT_OF_SERVICE];
    if (this.analog) ids.push(P.UNITS, P.COV_INCREMENT);
    else ids.push(P.ACTIVE_TEXT, P.INACTIVE_TEXT);
    if (!this.analog && this.spec.type !== ObjectType.BINARY_VALUE) ids.push(P.POLARITY);
    if (this.commandable) ids.push(P.PRIORITY_ARRAY, P.RELINQUISH_DEFAULT, P.CURRENT_COMMAND_PRIORITY);
    ids.push(P.PROPERTY_LIST);
    return ids;
  }

  read(property: number, index: number): PropertyResult {
    if (!this.propertyIds().includes(property)) return fail(ErrorCode.UNKNOWN_PROPERTY);
    if (index !== ASN1_ARRAY_ALL && property !== P.PRIORITY_ARRAY && property !== P.PROPERTY_LIST) return fail(ErrorCode.PROPERTY_IS_NOT_AN_ARRAY);
    switch (property) {
      case P.OBJECT_IDENTIFIER:
        return ok(objectId(this.id.type, this.id.instance));
      case P.OBJECT_NAME:
        return ok(text(this.name));
      case P.OBJECT_TYPE:
        return ok(enumerated(this.id.type));
      case P.PRESENT_VALUE:
        return ok(this.presentValueData());
      case P.DESCRIPTION:
        return ok(text(this.spec.description));
      case P.STATUS_FLAGS:
        return ok(this.statusFlags());
      case P.EVENT_STATE:
        return ok(enumerated(0));
      case P.RELIABILITY:
        return ok(enumerated(0));
      case P.OUT_OF_SERVICE:
        return ok(bool(this.outOfService));
      case P.UNITS:
        return ok(enumerated(this.spec.units ?? 95));
      case P.COV_INCREMENT:
        return ok(real(this.covIncrement));
      case P.ACTIVE_TEXT:
        return ok(text(this.spec.activeText ?? 'On'));
      case P.INACTIVE_TEXT:
        return ok(text(this.spec.inactiveText ?? 'Off'));
      case P.POLARITY:
        return ok(enumerated(0));
      case P.RELINQUISH_DEFAULT:
        return ok(this.analog ? real(this.relinquishDefault) : enumerated(this.relinquishDefault));
      case P.CURRENT_COMMAND_PRIORITY: {
        const active = this.activePriority();
        return ok(active === undefined ? nul() : unsigned(active));
      }
      case P.PRIORITY_ARRAY:
        return arrayRead(
          this.priorityArray.map((v) => (v === null ? nul() : this.analog ? real(v) : enumerated(v))),
          index,
        );
      case P.PROPERTY_LIST:
        return arrayRead(
          this.propertyIds()
            .filter((p) => p !== P.OBJECT_IDENTIFIER && p !== P.OBJECT_NAME && p !== P.OBJECT_TYPE && p !== P.PROPERTY_LIST)
            .map(enumerated),
          index,
        );
      default:
        return fail(ErrorCode.UNKNOWN_PROPERTY);
    }
  }

  write(property: number, values: readonly AppValue[], priority: number): WriteResult {
    if (!this.propertyIds().includes(property)) return fail(ErrorCode.UNKNOWN_PROPERTY);
    const first = values[0];
    if (!first) return fail(ErrorCode.INVALID_DATA_TYPE);
    if (property === P.OUT_OF_SERVICE) {
      if (first.type !== ApplicationTag.BOOLEAN) return fail(ErrorCode.INVALID_DATA_TYPE);
      this.outOfService = first.value === true;
      this.heldValue = this.outOfService ? this.presentValue() : undefined;
      return { ok: true };
    }
    if (property === P.COV_INCREMENT) {
      if (first.type !== ApplicationTag.REAL || typeof first.value !== 'number') return fail(ErrorCode.INVALID_DATA_TYPE);
      if (!(first.value >= 0)) return fail(ErrorCode.VALUE_OUT_OF_RANGE);
      this.covIncrement = first.value;
      return { ok: true };
    }
    if (property !== P.PRESENT_VALUE) return fail(ErrorCode.WRITE_ACCESS_DENIED);
    if (!this.commandable) {
      // Inputs and computed values accept a value only while out of service (as in bacnet-stack).
      if (!this.outOfService || !INPUTS.has(this.id.type)) return fail(ErrorCode.WRITE_ACCESS_DENIED);
      const v = this.decodeValue(first);
      if (typeof v !== 'number') return v;
      this.heldValue = v;
      return { ok: true };
    }
    if (priority < 1 || priority > 16) return fail(ErrorCode.VALUE_OUT_OF_RANGE);
    if (priority === RESERVED_PRIORITY) return fail(ErrorCode.WRITE_ACCESS_DENIED);
    if (first.type === ApplicationTag.NULL) {
      this.command(priority, null);
      return { ok: true };
    }
    const v = this.decodeValue(first);
    if (typeof v !== 'number') return v;
    this.command(priority, v);
    return { ok: true };
  }

  /** A written present-value as a number, or the error to answer. */
  private decodeValue(data: AppValue): number | { ok: false; errorClass: ErrorClass; errorCode: ErrorCode } {
    const raw = data.value;
    if (this.analog) {
      const numeric = data.type === ApplicationTag.REAL || data.type === ApplicationTag.DOUBLE || data.type === ApplicationTag.UNSIGNED_INTEGER || data.type === ApplicationTag.SIGNED_INTEGER;
      if (!numeric || typeof raw !== 'number' || !Number.isFinite(raw)) return fail(ErrorCode.INVALID_DATA_TYPE);
      if ((this.spec.min !== undefined && raw < this.spec.min) || (this.spec.max !== undefined && raw > this.spec.max)) return fail(ErrorCode.VALUE_OUT_OF_RANGE);
      return raw;
    }
    if (data.type !== ApplicationTag.ENUMERATED || typeof raw !== 'number') return fail(ErrorCode.INVALID_DATA_TYPE);
    if (raw !== 0 && raw !== 1) return fail(ErrorCode.VALUE_OUT_OF_RANGE);
    return raw;
  }
}

/** Array property read: index 0 is the length, 1..n one element, ALL every element. */
export function arrayRead(items: readonly AppValue[], index: number): PropertyResult {
  if (index === ASN1_ARRAY_ALL) return { ok: true, values: [...items] };
  if (index === 0) return ok(unsigned(items.length));
  const item = items[index - 1];
  return item ? ok(item) : fail(ErrorCode.INVALID_ARRAY_INDEX);
}
