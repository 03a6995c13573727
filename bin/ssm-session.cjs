#!/usr/bin/env node
// npm `bin` entry for ssm-session (see launch.cjs).
'use strict';
require('./launch.cjs')('ssm-session');
