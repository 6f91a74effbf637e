#!/usr/bin/env node
'use strict';
// `flannel-docker-opts`: the mk-docker-opts.sh equivalent.
require('./launch')('flannel-docker-opts', 'dockerOptsMain');
