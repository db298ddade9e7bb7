/** Test doubles for what the platform injects: `@defib/platform/testing`, never imported by production code. */
export { ManualClock } from './manual-clock.ts';
