/**
 * Writes the fixture report's three files, to look at the Markdown and the SVG timeline:
 * `node packages/drill/src/testing/write-report-fixture.ts [DIR]` (default: a folder in the OS's temp dir).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeReportFiles } from '../report-files.ts';
import { reportFixture } from './report-fixture.ts';

const dir = process.argv[2] ?? join(tmpdir(), 'defib-drill-report-fixture');
const files = await writeReportFiles(reportFixture(), dir);
process.stdout.write(`${files.markdown}\n${files.svg}\n${files.json}\n`);
