// Turning back-end errors into sentences staff can act on.

import type { AppError } from '../types';
import { labelOf } from './format';

/** The validation message without the "field: " prefix the back end puts in front. */
export function bareMessage(err: AppError): string {
  const f = err.field;
  let m = err.message.trim();
  if (f && m.toLowerCase().startsWith(`${f.toLowerCase()}: `)) m = m.slice(f.length + 2);
  return m;
}

// Messages that continue the field's name as a sentence ("End" + "is before the start").
const CONTINUES = /^(is|are|must|cannot|can't|already|would|has|have|was|were|only|needs?)\b/i;

function sentence(s: string): string {
  const t = s.trim();
  if (!t) return t;
  const cap = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?)]$/.test(cap) ? cap : `${cap}.`;
}

/** The text shown under a field: "End is before the start." */
export function fieldMessage(err: AppError, label?: string): string {
  const m = bareMessage(err);
  if (err.field && CONTINUES.test(m)) return sentence(`${label ?? labelOf(err.field)} ${m}`);
  return sentence(m);
}

const CODE_WORDS: Record<string, string> = {
  not_found: 'That record no longer exists here. It may have been removed on another device.',
  ambiguous: 'More than one record matches. Pick one from the list instead of typing.',
  disk_full: 'The disk of this computer is full, so nothing can be saved. Ask IT to free some space.',
  store_too_new: 'This data was written by a newer Branchline. Update Branchline on this computer.',
  store: 'The local database could not be read or written. Try again; if it keeps happening, call the coordinator.',
  document: 'A stored document could not be read. Try again; if it keeps happening, call the coordinator.',
  not_initialised: 'This computer is not set up yet.',
  already_initialised: 'This computer already holds a library system.',
  io: 'A file could not be read or written on this computer.',
  bundle_foreign: 'That file belongs to a different library system.',
  bundle_corrupt: 'That file is damaged or not a Branchline file.',
  join_refused: 'The invite was refused. It may have expired or already been used: ask for a new one.',
};

/** A whole-form or banner message. */
export function plainMessage(err: AppError): string {
  if (err.code === 'invalid' && err.field) return fieldMessage(err);
  if (err.code.startsWith('net.') || err.code === 'join_refused') {
    const reason = syncReason(err.code) ?? syncReason(err.message);
    if (reason) return reason;
  }
  const known = CODE_WORDS[err.code];
  if (known && (err.code !== 'usage' || !err.message)) return known;
  return sentence(err.message || 'Something went wrong.');
}

// Peer errors arrive as a code ("net.timed_out") or as the text of the error
// ("connection timed out", "10.1.2.3:7733 did not answer", "handshake failed: ... revoked").
const REASONS: [RegExp, string][] = [
  [
    /revok/i,
    'This device or the other one has been revoked, so they refuse to talk. The coordinator can enrol it again with a new invite.',
  ],
  [
    /net\.timed_out|timed? ?out|did not answer|no answer/i,
    'The other device did not answer. It may be switched off or asleep, or the network between the branches is down. Branchline keeps trying.',
  ],
  [
    /net\.refused|refused|econnrefused/i,
    'The other computer answered but Branchline is not running there (the connection was refused).',
  ],
  [
    /unreachable|no route|network is down/i,
    'There is no network path to the other device right now. Branchline keeps trying and syncs when it can.',
  ],
  [
    /net\.forbidden|forbidden|unauthenticated|not enrolled|unknown authority|unknownissuer|unknown ca/i,
    'The other device does not belong to this library system (or is not enrolled yet), so they will not sync.',
  ],
  [
    /\btls\b|certificate|handshake|net\.cert/i,
    'The two devices could not confirm each other (security check failed). One of them may have been revoked or belong to another library system.',
  ],
  [/net\.alpn|branchline\/1/i, 'Something else is answering at that address: it is not Branchline.'],
  [
    /net\.self|connected to itself/i,
    'That address is this computer itself. Enter the address of another branch’s computer.',
  ],
  [
    /net\.protocol|protocol|frame/i,
    'The other device sent something this version does not understand. Make sure both run the same version of Branchline.',
  ],
  [
    /net\.connect|cannot connect|connection failed|net\.connection|no address answered/i,
    'Could not connect to the other device. Check the address and that it is switched on.',
  ],
  [
    /net\.closed|connection closed|net\.stream|reset|lost/i,
    'The connection was interrupted. Branchline reconnects by itself.',
  ],
  [
    /net\.discovery|mdns|discovery/i,
    'Looking for other branches on the local network failed. Enter peer addresses by hand.',
  ],
  [/net\.io/i, 'A network error happened on this computer.'],
];

/** A plain sentence for a peer's last error (a code or a message); null if nothing to say. */
export function syncReason(codeOrMessage: string | null | undefined): string | null {
  if (!codeOrMessage) return null;
  for (const [re, text] of REASONS) if (re.test(codeOrMessage)) return text;
  return `Sync stopped with: ${codeOrMessage}`;
}
