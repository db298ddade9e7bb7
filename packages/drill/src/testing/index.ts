/** Test doubles for the drill's reports: `@defib/drill/testing`, never imported by production code. */
export { fixtureRunningAt, reportFixture } from './report-fixture.ts';
