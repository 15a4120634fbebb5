/**
 * GPIO connection (which chip) and address (which BCM pin, how) settings.
 */
import { Type, type Static } from '@sinclair/typebox';

export const DEFAULT_SYSFS_ROOT = '/sys/class/gpio';

export const GpioAutoChipSchema = Type.Object(
  { kind: Type.Literal('auto', { description: 'sysfs when /sys/class/gpio is accessible, otherwise an error asking for kind: sim' }) },
  { additionalProperties: false },
);

export const GpioSysfsChipSchema = Type.Object(
  {
    kind: Type.Literal('sysfs', { description: 'Kernel sysfs GPIO through onoff (Raspberry Pi header)' }),
    sysfsRoot: Type.Optional(
      Type.String({ minLength: 1, default: DEFAULT_SYSFS_ROOT, description: 'Folder listing gpiochip*/{base,label,ngpio}, used to find the line number base' }),
    ),
    base: Type.Optional(
      Type.Integer({ minimum: 0, description: 'sysfs number of BCM pin 0; overrides detection (Pi 4 kernels >= 6.6: 512, Pi 5: 571, older kernels: 0)' }),
    ),
    label: Type.Optional(
      Type.String({ minLength: 1, description: 'Use the gpiochip with this label, e.g. pinctrl-bcm2711 or pinctrl-rp1' }),
    ),
  },
  { additionalProperties: false },
);

export const GpioSimChipSchema = Type.Object(
  {
    kind: Type.Literal('sim', { description: 'Simulated chip over TCP (swarmgate simulators)' }),
    host: Type.String({ minLength: 1, description: 'Simulator host' }),
    port: Type.Integer({ minimum: 1, maximum: 65535, description: 'Simulator GPIO chip port' }),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 10, default: 1000, description: 'Answer timeout of each request' })),
  },
  { additionalProperties: false },
);

export const GpioConnectionSchema = Type.Object(
  {
    chip: Type.Union([GpioAutoChipSchema, GpioSysfsChipSchema, GpioSimChipSchema], { description: 'Which GPIO chip to use' }),
  },
  { additionalProperties: false, description: 'GPIO chip connection' },
);

export type GpioConnection = Static<typeof GpioConnectionSchema>;
export type GpioChipSettings = GpioConnection['chip'];
export type GpioSysfsChipSettings = Static<typeof GpioSysfsChipSchema>;
export type GpioSimChipSettings = Static<typeof GpioSimChipSchema>;

export const GpioAddressSchema = Type.Object(
  {
    pin: Type.Integer({ minimum: 0, maximum: 511, description: 'BCM pin number (GPIO17 = 17), not the header pin' }),
    direction: Type.Union([Type.Literal('in'), Type.Literal('out')], { description: 'in: input, out: output' }),
    edge: Type.Optional(
      Type.Union([Type.Literal('none'), Type.Literal('rising'), Type.Literal('falling'), Type.Literal('both')], {
        // No schema default: a default would be filled in for outputs too, where edge is refused.
        description: 'Inputs only: which changes of the (active-low mapped) value are reported as they happen (default both)',
      }),
    ),
    activeLow: Type.Optional(Type.Boolean({ default: false, description: 'true: electrical low reads as true' })),
    debounceMs: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 10000, default: 0, description: 'Inputs: report only after the level was stable this long' }),
    ),
    initial: Type.Optional(
      Type.Union([Type.Literal(0), Type.Literal(1)], { description: 'Outputs: logical value set when the line is first claimed after the gateway boots (after active-low mapping); a restarted gateway finds the output held at its level and keeps it' }),
    ),
  },
  { additionalProperties: false, description: 'GPIO line address' },
);

export type GpioAddress = Static<typeof GpioAddressSchema>;
