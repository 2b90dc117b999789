import { mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allowsHost, compileConfig, compileHostAllowlist, parseHost } from '../../src/config/index.js';

const empty = () => mkdtempSync(join(tmpdir(), 'slipway-hosts-'));

describe('Host allowlist', () => {
  it.each([
    ['localhost', { host: 'localhost', port: null }],
    ['LocalHost:8080', { host: 'localhost', port: 8080 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['[::1]', { host: '::1', port: null }],
    ['[::1]:65535', { host: '::1', port: 65535 }],
    ['::1', { host: '::1', port: null }],
    ['slipway.example.com.', { host: 'slipway.example.com', port: null }],
  ])('parses %s', (text, expected) => {
    expect(parseHost(text)).toEqual(expected);
  });

  it.each([
    '',
    ':8080',
    'localhost:',
    'localhost:65536',
    'localhost:80:80',
    '127.0.0.1@evil.example',
    'evil.example/path',
    '[::1',
    '[::1]x',
    '[localhost]',
    'under_score.example',
    '-leading.example',
    'sp ace',
  ])('refuses the malformed host %j', (text) => {
    expect(parseHost(text)).toBeNull();
  });

  it('allows the loopback names at any port by default on loopback, and nothing else', () => {
    const list = compileHostAllowlist(undefined, '127.0.0.1');
    for (const host of ['localhost:1', '127.0.0.1:8080', '[::1]:8080', 'localhost', '::1']) {
      expect(allowsHost(list, host), host).toBe(true);
    }
    for (const host of [
      undefined,
      'evil.example',
      'localhost.evil.example:80',
      '127.0.0.2:8080',
      hostname(),
    ]) {
      expect(allowsHost(list, host), String(host)).toBe(false);
    }
  });

  it('adds the listen address and the host name beyond loopback', () => {
    const list = compileHostAllowlist(undefined, '10.1.2.3');
    expect(allowsHost(list, '10.1.2.3:8080')).toBe(true);
    expect(allowsHost(list, `${hostname()}:8080`)).toBe(true);
    expect(allowsHost(list, 'evil.example:8080')).toBe(false);
  });

  it('holds a listed port to that port, and * to any host', () => {
    const list = compileHostAllowlist('slipway.example.com:443, 10.0.0.5', '0.0.0.0');
    expect(allowsHost(list, 'slipway.example.com:443')).toBe(true);
    expect(allowsHost(list, 'slipway.example.com:8080')).toBe(false);
    expect(allowsHost(list, '10.0.0.5:1')).toBe(true);
    expect(allowsHost(list, 'localhost:8080')).toBe(false);
    expect(allowsHost(compileHostAllowlist('*', '127.0.0.1'), 'anything.example')).toBe(true);
  });

  it.each([
    ['SLIPWAY_ALLOWED_HOSTS', 'evil.example/path'],
    ['SLIPWAY_ALLOWED_HOSTS', ','],
    ['SLIPWAY_ALLOWED_HOSTS', 'a.example,*'],
    ['SLIPWAY_ALLOWED_ORIGINS', 'ui.example.com'],
    ['SLIPWAY_ALLOWED_ORIGINS', 'https://ui.example.com/app'],
    ['SLIPWAY_ALLOWED_ORIGINS', 'ftp://ui.example.com'],
    ['SLIPWAY_ALLOWED_ORIGINS', 'https://user@ui.example.com'],
  ])('refuses %s=%s at boot, naming the variable', (name, value) => {
    expect(() => compileConfig({}, { [name]: value }, empty())).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { variable: name } }),
    );
  });

  it('normalises allowed origins as browsers send them', () => {
    const config = compileConfig(
      {},
      { SLIPWAY_ALLOWED_ORIGINS: 'https://UI.example.com:443/, http://localhost:3000' },
      empty(),
    );
    expect(config.allowedOrigins).toEqual(['https://ui.example.com', 'http://localhost:3000']);
  });
});
