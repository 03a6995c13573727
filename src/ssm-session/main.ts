#!/usr/bin/env node
// `ssm-session` run from source (`node src/ssm-session/main.ts ...`); the built programs start in src/entry.
import { ssmSessionMain } from './cli-main.ts';

ssmSessionMain();
