import { describe, expect, it } from 'vitest';
import { bareMessage, fieldMessage, plainMessage, syncReason } from './errors';

describe('error words', () => {
  it('turns sync error codes and messages into plain sentences', () => {
    expect(syncReason('net.timed_out')).toMatch(/did not answer/);
    expect(syncReason('connection timed out')).toMatch(/did not answer/);
    expect(syncReason('198.51.100.7:7733 did not answer')).toMatch(/switched off/);
    expect(syncReason('net.refused')).toMatch(/not running there/);
    expect(syncReason('tls/revoked')).toMatch(/revoked/);
    expect(syncReason('handshake failed: certificate revoked')).toMatch(/revoked/);
    expect(syncReason('net.handshake')).toMatch(/could not confirm each other/);
    expect(syncReason('net.self')).toMatch(/this computer itself/);
    expect(syncReason(null)).toBeNull();
    expect(syncReason('something odd')).toBe('Sync stopped with: something odd');
  });

  it('reads a validation message next to its field as a sentence', () => {
    const e = { code: 'invalid', message: 'end: is before the start', field: 'end' };
    expect(bareMessage(e)).toBe('is before the start');
    expect(fieldMessage(e)).toBe('End is before the start.');
    expect(
      fieldMessage({ code: 'invalid', message: 'session of 90 minutes is longer than the 60 minutes allowed', field: 'end' }),
    ).toBe('Session of 90 minutes is longer than the 60 minutes allowed.');
    expect(plainMessage({ code: 'disk_full', message: 'disk full' })).toMatch(/disk of this computer is full/);
    expect(plainMessage({ code: 'net.timed_out', message: 'x did not answer' })).toMatch(/did not answer/);
  });
});
