import { App } from 'aws-cdk-lib';
import { ConfigError } from '../functions/shared/errors';
import { loadConfig } from './config';
import { buildApp } from './stacks/build-app';

const app = new App();
try {
  buildApp(app, loadConfig(app));
} catch (error) {
  // A wrong config is the operator's to fix: one message, no stack trace.
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}
app.synth();
