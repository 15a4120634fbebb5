/** Runs `stop` once on SIGINT/SIGTERM and resolves when it is done. */
export function untilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const handler = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.stderr.write(`second ${signal}: exiting now\n`);
        process.exit(130);
      }
      stopping = true;
      stop().then(resolve, (err: unknown) => {
        process.stderr.write(`shutdown failed: ${String(err)}\n`);
        resolve();
      });
    };
    process.once('SIGINT', handler);
    process.once('SIGTERM', handler);
  });
}
