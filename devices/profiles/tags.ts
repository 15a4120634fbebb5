/**
 * Project Haystack markers of the demo equipment's points, by profile file and point name: what
 * an integrator commissioning this equipment would write, so the hub's point index finds "every
 * discharge air temp" in the demo. Checked against the vocabulary (edge/config/haystack.ts) by
 * test/devices/profiles.test.ts and by every `edge check` of a config that uses the profiles.
 * Two-state alarms carry no quantity marker, so "air temp sensor" finds measurements only.
 */
export const DEMO_TAGS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  'ahu-modbus.yaml': {
    fan_command: 'fan run cmd',
    filter_alarm: 'filter alarm sensor',
    freeze_stat: 'mixed air alarm sensor',
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
    high_temperature_alarm: 'zone air alarm sensor',
  },
  'facility-gpio.yaml': {
    door_contact: 'door sensor',
    occupancy: 'occupied sensor',
    backup_compressor_relay: 'compressor run cmd',
    ahu_enable_relay: 'enable cmd',
  },
  'vav-bacnet.yaml': {
    zone_temp: 'zone air temp sensor',
    airflow: 'discharge air flow sensor',
    damper: 'discharge air damper cmd',
    zone_setpoint: 'zone air temp sp',
    occupancy: 'occupied sp',
  },
  'chw-plant-bacnet.yaml': {
    chw_supply_temp: 'chilled water supply temp sensor',
    chw_return_temp: 'chilled water return temp sensor',
    outside_air_temp: 'outside air temp sensor',
    chw_setpoint: 'chilled water supply temp sp',
    plant_load_kw: 'chilled water power sensor',
    chiller_enable: 'chiller enable cmd',
    pump_status: 'chilled water pump run sensor',
    chiller_alarm: 'chiller alarm sensor',
  },
};
