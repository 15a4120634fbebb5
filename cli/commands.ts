/**
 * The one table of subcommands. A new command is one file plus one line here. Command modules
 * load on use, so `swarmgate --help` or `edge check` do not pay for OPC UA or TensorFlow.
 */
export interface Command {
  readonly summary: string;
  run(args: string[]): Promise<number>;
}

function lazy(summary: string, load: () => Promise<Pick<Command, 'run'>>): Command {
  return { summary, run: async (args) => (await load()).run(args) };
}

export const commands: Record<string, Command> = {
  demo: lazy('run the demo: simulated facility, gateway, hub and review page', async () => {
    return (await import('./demo.js')).demoCommand;
  }),
  edge: lazy('run the edge gateway; "edge check" validates configs; "edge discover" drafts profiles; "edge dead-letters" re-queues what the broker refused', async () => (await import('./edge.js')).edgeCommand),
  image: lazy('prepare a Raspberry Pi OS image that installs the gateway and enrolls it on first boot', async () => (await import('./image.js')).imageCommand),
  hub: lazy('run the hub (broker, ingest, store); "hub user" manages broker users; "hub quarantine" shows refused messages', async () => (await import('./hub.js')).hubCommand),
  review: lazy('the technician review queue: list, show, approve, reject, modify (against the hub store)', async () => (await import('./review.js')).reviewCommand),
  sim: lazy('run the simulated facility; "sim fault" injects faults at run time', async () => (await import('./sim.js')).simCommand),
  release: lazy('signed releases: "release keygen" makes the fleet key, "release build" the tarball and manifest', async () => (await import('./release.js')).releaseCommand),
  score: lazy("score a timestamp,value CSV with the gateway's anomaly detector", async () => (await import('./score.js')).scoreCommand),
};
