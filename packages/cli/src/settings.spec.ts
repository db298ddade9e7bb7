import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError } from './cli-error.ts';
import { DEFAULT_URLS, resolveSettings } from './settings.ts';

describe('the CLI settings', () => {
  const directory = mkdtempSync(join(tmpdir(), 'defib-settings-'));
  const config = join(directory, 'config.yaml');
  writeFileSync(config, 'token: from-the-file\nregistry: http://registry.example:7101/\nnotifier: http://notifier.example:7104\n');
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('takes the environment first, then the config file, then the localhost defaults', () => {
    const settings = resolveSettings({ DEFIB_CONFIG: config, DEFIB_NOTIFIER_URL: 'http://127.0.0.1:9104' });
    expect(settings).toEqual({
      token: 'from-the-file',
      urls: { registry: 'http://registry.example:7101', notifier: 'http://127.0.0.1:9104', recovery: DEFAULT_URLS.recovery, monitor: DEFAULT_URLS.monitor },
    });
  });

  it('prefers DEFIB_TOKEN to the config file, and the config file to DEFIB_ADMIN_TOKEN', () => {
    expect(resolveSettings({ DEFIB_TOKEN: 'cli', DEFIB_ADMIN_TOKEN: 'admin' }, { configFile: config }).token).toBe('cli');
    expect(resolveSettings({ DEFIB_ADMIN_TOKEN: 'admin' }, { configFile: config }).token).toBe('from-the-file');
    writeFileSync(join(directory, 'empty.yaml'), '');
    expect(resolveSettings({ DEFIB_ADMIN_TOKEN: 'admin' }, { configFile: join(directory, 'empty.yaml') }).token).toBe('admin');
  });

  it('lists every bad variable or config field in one error, and insists only on a config file named explicitly', () => {
    const bad = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        return error instanceof CliError ? error.lines : error;
      }
      return undefined;
    };
    expect(bad(() => resolveSettings({ DEFIB_REGISTRY_URL: 'ftp://x', DEFIB_RECOVERY_URL: 'nope' }))).toEqual([
      'defib: DEFIB_REGISTRY_URL: must be an http:// or https:// URL',
      'defib: DEFIB_RECOVERY_URL: must be an http:// or https:// URL',
    ]);
    writeFileSync(join(directory, 'wrong.yaml'), 'regsitry: http://x\n');
    expect(bad(() => resolveSettings({}, { configFile: join(directory, 'wrong.yaml') }))).toEqual([expect.stringMatching(/^defib: .*wrong\.yaml: Unrecognized key/)]);
    expect(bad(() => resolveSettings({}, { configFile: join(directory, 'absent.yaml') }))).toEqual([`defib: ${join(directory, 'absent.yaml')}: no such file`]);
  });
});
