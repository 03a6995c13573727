#!/usr/bin/env node
// The plugin run from source (`node src/cli/main.ts ...`); the built programs start in src/entry.
import { pluginMain } from './plugin-main.ts';

pluginMain();
