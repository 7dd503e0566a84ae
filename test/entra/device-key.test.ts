// The device key ([MS-DVRJ] 2.3.3): base64 of UTF-16LE "X509:<SHA1-TP-PUBKEY>" + thumbprint + hash.
import { describe, expect, it } from 'vitest';
import { decodeDeviceKey, deviceKeyText, encodeDeviceKey } from '../../src/entra/device-key.js';

describe('device keys', () => {
  it('decodes device keys and refuses malformed ones', () => {
    const text = `X509:<SHA1-TP-PUBKEY>${'A1'.repeat(20)}${'b'.repeat(43)}=`;
    expect(decodeDeviceKey(encodeDeviceKey(text))).toBe(text);
    expect(deviceKeyText('a1'.repeat(20), `${'b'.repeat(43)}=`)).toBe(text);
    expect(() => decodeDeviceKey('!!!')).toThrow(/base64/);
    expect(() => decodeDeviceKey(encodeDeviceKey('hello'))).toThrow(/X509:</);
    expect(() => decodeDeviceKey(encodeDeviceKey('X509:<SHA1-TP-PUBKEY>short'))).toThrow(/40-hex/);
    expect(() => deviceKeyText('xyz', 'h')).toThrow(/40 hex/);
  });
});
