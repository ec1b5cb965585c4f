import { App } from 'aws-cdk-lib';
import { ConfigError } from '../functions/shared/errors';
import { loadConfig } from './config';
import { buildApp } from './stacks/build-app';

const app = new App();
try {
  buildApp(app, loadConfig(app));
  app.synth();
} catch (error) {
  // A wrong config is the operator's to fix: one message, no stack trace.
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  // Not process.exit(): under tsx that hung in Node's shutdown about once in 40 runs on a busy machine.
  process.exitCode = 1;
}
