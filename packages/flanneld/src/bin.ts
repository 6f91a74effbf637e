#!/usr/bin/env node
import { runAndExit } from './main';

runAndExit();
