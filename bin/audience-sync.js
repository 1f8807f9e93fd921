#!/usr/bin/env node
// Entry for `npx audience-sync`: runs the TypeScript CLI through tsx, so no build step is needed after npm ci.
import { register } from 'tsx/esm/api';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
await import('./cli.ts');
