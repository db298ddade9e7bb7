/* global process */
// Loaded first by every entry point (`node --import …/scripts/check-node.js`), in plain JavaScript
// so that it runs on any Node: on one too old to run Defib's TypeScript it says, in one line, which
// Node is needed and how to get it, instead of failing on the first `.ts` file.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`Defib needs Node.js >= 22.18 (this is ${process.version}): run ./defib, which installs it into .tools/, or install Node 24 from https://nodejs.org\n`);
  process.exit(1);
}
