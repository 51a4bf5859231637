/** Where the line goes: stderr, whether it is a terminal, and a clock (tests pass their own). */
interface ProgressIo {
  stderr: (text: string) => void;
  isTTY?: boolean;
  now?: () => number;
}

/** How often the line is redrawn, and after how long a run starts showing it. */
const SHOW_AFTER_MS = 1000;
const REDRAW_MS = 100;

/**
 * A progress line on stderr ("\rrendering hosts: 120/10000"), only on a terminal and only once a
 * run has taken over a second: short runs and pipes get nothing on stderr but warnings.
 */
export function progressLine(io: ProgressIo): { update: (done: number, total: number) => void; end: () => void } {
  const now = io.now ?? Date.now;
  const tty = io.isTTY ?? false;
  const start = now();
  let last = 0;
  let shown = false;
  return {
    update: (done, total) => {
      if (!tty) return;
      const t = now();
      if (t - start < SHOW_AFTER_MS || (t - last < REDRAW_MS && done !== total)) return;
      last = t;
      shown = true;
      io.stderr(`\rrendering hosts: ${done}/${total}`);
    },
    end: () => {
      if (shown) io.stderr('\n');
    },
  };
}
