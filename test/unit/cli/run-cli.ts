import { runCli } from '../../../functions/cli/main';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in-process with captured output, as a terminal would see it. */
export async function cli(...argv: string[]): Promise<CliRun> {
  let out = '';
  let err = '';
  const code = await runCli(argv, {
    out: (text) => (out += text),
    err: (text) => (err += text),
    env: {},
    untilStopped: async () => {},
  });
  return { code, out, err };
}

/** `argv` with the value of `option` replaced by `value`. */
export const replacingOption = (argv: readonly string[], option: string, value: string): string[] => argv.map((arg, index) => (argv[index - 1] === option ? value : arg));
