// Ending a run on SIGINT, SIGTERM or SIGHUP without leaving a temporary tree or a lock behind.
// Node runs a signal's listeners only when its event loop turns, never in the middle of synchronous
// code: a long run must yield now and then (yieldToSignals), and a synchronous section (the swap of
// the trees) is never cut: a signal that arrives during it is handled at the next yield.

const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

/**
 * Until the returned function is called, SIGINT, SIGTERM and SIGHUP run `stop` (which cleans up and
 * returns a sentence for stderr), then end the process with 128 + the signal's number (130, 143,
 * 129), as a shell reports a command killed by it. This is the one place gen exits by itself: the
 * run it interrupts is suspended in an await and cannot return.
 */
export function stopOnSignals(stop: (signal: string) => string): () => void {
  const installed = Object.entries(SIGNAL_NUMBERS).map(([signal, n]) => {
    const listener = () => {
      let message: string;
      try {
        message = stop(signal);
      } catch (e) {
        message = `stopped by ${signal}; cleaning up failed: ${e instanceof Error ? e.message : String(e)}`;
      }
      process.stderr.write(`gen: ${message}\n`);
      process.exit(128 + n);
    };
    process.on(signal, listener);
    return [signal, listener] as const;
  });
  return () => {
    for (const [signal, listener] of installed) process.removeListener(signal, listener);
  };
}

/** Lets the event loop turn once, so that a signal received meanwhile is handled now. */
export function yieldToSignals(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
