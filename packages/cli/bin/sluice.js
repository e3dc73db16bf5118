#!/usr/bin/env node
// The `sluice` command as a package bin, so that `pnpm sluice ...` at the repository root runs it
// through pnpm's exec fallback, which prints no `> sluice@0.1.0 ...` banner (a root script would).
// A file in the source tree, not dist/bin.js itself: pnpm links bins at install, before the build.
import '../dist/bin.js';
