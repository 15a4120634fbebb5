/**
 * Project Haystack markers of the demo equipment's points, by profile file and point name: what
 * an integrator commissioning this equipment would write, so the hub's point index finds "every
 * discharge air temp" in the demo. Checked against the vocabulary (edge/config/haystack.ts) by
 * test/devices/profiles.test.ts and by every `edge check` of a config that uses the profiles.
 */
export const DEMO_TAGS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  'ahu-modbus.yaml': {
    fan_command: 'fan run cmd',
    filter_alarm: 'filter alarm sensor',
    freeze_stat: 'mixed air temp alarm sensor',
    fan_running: 'fan run sensor',
    supply_air_temp: 'discharge air temp sensor',
    return_air_temp: 'return air temp sensor',
    outdoor_air_temp: 'outside air temp sensor',
    mixed_air_temp: 'mixed air temp sensor',
    filter_dp: 'filter delta pressure sensor',
    fan_speed_feedback: 'fan speed sensor',
    status_enabled: 'enable sensor',
    fan_speed_setpoint: 'fan speed sp',
    damper_position: 'outside air damper cmd',
    supply_temp_setpoint: 'discharge air temp sp',
  },
  'energy-meter-modbus.yaml': {
    phase_loss: 'elec alarm sensor',
    voltage: 'elec volt sensor',
    current: 'elec current sensor',
    active_power: 'elec power sensor',
    power_factor: 'elec pf sensor',
    frequency: 'elec freq sensor',
    energy_total: 'elec energy sensor',
  },
  'cold-room-opcua.yaml': {
    temperature: 'zone air temp sensor',
    door_open: 'door sensor',
    compressor_running: 'compressor run sensor',
    setpoint: 'zone air temp sp',
    backup_compressor: 'compressor run cmd',
    compressor_fault: 'compressor alarm sensor',
    high_temperature_alarm: 'zone air temp alarm sensor',
  },
  'facility-gpio.yaml': {
    door_contact: 'door sensor',
    occupancy: 'occupied sensor',
    backup_compressor_relay: 'compressor run cmd',
    ahu_enable_relay: 'enable cmd',
  },
};
