#!/usr/bin/env node
// npm `bin` entry for the plugin (see launch.cjs).
'use strict';
require('./launch.cjs')('session-manager-plugin');
