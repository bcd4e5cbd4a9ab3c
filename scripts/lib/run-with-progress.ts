// Runs a long command (a Go build) and prints a progress line every 30 seconds until it ends.
import { spawn } from 'node:child_process';

export async function runWithProgress(label: string, command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<number> {
  const started = Date.now();
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'ignore', 'inherit'] });
  const progress = setInterval(() => console.log(`${label}: still building (${Math.round((Date.now() - started) / 1000)}s)`), 30_000);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', resolve);
    });
    if (code !== 0) {
      console.error(`${label}: \`${command} ${args.join(' ')}\` failed (exit ${code}); is Go >= 1.26 on PATH?`);
      process.exit(1);
    }
    return Math.round((Date.now() - started) / 1000);
  } finally {
    clearInterval(progress);
  }
}
