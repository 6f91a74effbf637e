#!/usr/bin/env node
'use strict';
// `flannel-docker-check`: compares docker0 with this host's lease.
require('./launch')('flannel-docker-check', 'dockerCheckMain');
