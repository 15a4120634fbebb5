/**
 * restoreSecrets: a desired config built from the redacted view gets back the running config's
 * secrets by list item id (never by position), only for the same server and user, and says why
 * a secret it cannot keep is unresolved.
 */
import { describe, expect, it } from 'vitest';
import { REDACTED, redactSecrets, restoreSecrets } from '../../shared/kit/secrets.js';

const device = (id: string, endpointUrl: string, username: string, password: string): Record<string, unknown> => ({ id, connection: { endpointUrl, username, password } });
const running = {
  devices: [device('a', 'opc.tcp://10.0.0.1:4840', 'ua', 'A-SECRET'), device('b', 'opc.tcp://10.0.0.2:4840', 'ub', 'B-SECRET')],
  federation: { mqtt: { url: 'mqtt://hub.example:1883', username: 'gw-1', password: 'MQTT-SECRET' } },
};
const shown = redactSecrets(running) as typeof running;

describe('restoreSecrets', () => {
  it('matches list items by id: reordered or removed devices keep their own secrets', () => {
    const reordered = restoreSecrets({ ...shown, devices: [shown.devices[1], shown.devices[0]] }, running);
    expect(reordered.reasons).toEqual([]);
    expect(reordered.value).toMatchObject({ devices: [{ id: 'b', connection: { password: 'B-SECRET' } }, { id: 'a', connection: { password: 'A-SECRET' } }] });
    const removed = restoreSecrets({ ...shown, devices: [shown.devices[1]] }, running);
    expect(removed.value).toMatchObject({ devices: [{ id: 'b', connection: { password: 'B-SECRET' } }], federation: { mqtt: { password: 'MQTT-SECRET' } } });
  });

  it('leaves unresolved, with the reason, a secret of an unknown id, an id-less item, or a changed server or user', () => {
    const r = restoreSecrets(
      {
        devices: [
          { ...shown.devices[0], id: 'c' },
          { connection: { endpointUrl: 'opc.tcp://10.0.0.1:4840', username: 'ua', password: REDACTED } },
          device('a', 'opc.tcp://10.0.0.1:4840', 'someone-else', REDACTED),
          device('b', 'opc.tcp://evil.example:4840', 'ub', REDACTED),
        ],
        // mqtt:// to mqtts:// on the same server keeps the secret.
        federation: { mqtt: { url: 'mqtts://hub.example:1883', username: 'gw-1', password: REDACTED } },
      },
      running,
    );
    expect(r.unresolved).toEqual([
      ['devices', 0, 'connection', 'password'],
      ['devices', 1, 'connection', 'password'],
      ['devices', 2, 'connection', 'password'],
      ['devices', 3, 'connection', 'password'],
    ]);
    expect(r.reasons.map((x) => x.reason.split(';')[0])).toEqual([
      'the running config has no item with id "c" here whose secret to keep',
      "this list item has no id, so the running config's secret cannot be matched to it",
      'username "ua" is now "someone-else": a kept secret goes only to the server and user it was given for',
      'endpointUrl "opc.tcp://10.0.0.2:4840" is now "opc.tcp://evil.example:4840": a kept secret goes only to the server and user it was given for',
    ]);
    expect(r.value).toMatchObject({ federation: { mqtt: { password: 'MQTT-SECRET' } } });
    expect(JSON.stringify(r.value)).not.toMatch(/A-SECRET|B-SECRET/);
  });
});
