// The `gen` executable: runs the CLI on this process's arguments. Kept apart from cli.ts so that
// importing the CLI (tests, the startup snapshot) has no side effects.
import { main, processIo } from './cli.ts';

process.exitCode = await main(process.argv.slice(2), processIo);
