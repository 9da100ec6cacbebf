import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeSender } from '../../../src/greylist/sender.js';

describe('sender normalization (postgrey 1.37 do_sender_substitutions + lc, plus SRS)', () => {
  const table: ReadonlyArray<readonly [string, string, string]> = [
    ['plain address, lower-cased', 'Alice@Example.ORG', 'alice@example.org'],
    ['null sender stays empty', '', ''],
    ['no domain: unchanged', 'MAILER-DAEMON', 'mailer-daemon'],
    ['+extension dropped', 'alice+newsletter@example.org', 'alice@example.org'],
    ['everything from the first + dropped', 'list+bounces+123@example.org', 'list@example.org'],
    ['VERP numbers → #', 'bounce-12345-678@lists.example.org', 'bounce-#-#@lists.example.org'],
    ['numbers glued to letters stay', 'user2024@example.org', 'user2024@example.org'],
    ['number between dots → #', 'news.20240101.1@example.org', 'news.#.#@example.org'],
    ['domain untouched by number folding', 'a-1@mx1.123.example', 'a-#@mx1.123.example'],
    ['BATV prvs=tag=user', 'prvs=1234abcdef=alice@example.org', 'alice@example.org'],
    ['BATV swapped prvs=user=tag', 'prvs=alice=1234abcdef@example.org', 'alice@example.org'],
    ['PRVS= is not BATV (postgrey matches prvs= case-sensitively)', 'PRVS=1234abcdef=Alice@Example.org', 'prvs=1234abcdef=alice@example.org'],
    ['PRVS= with a numeric tag: only the number folding applies', 'PRVS=0123456789=Alice@Example.org', 'prvs=#=alice@example.org'],
    ['upper-case tag is no tag: a long user is taken for the tag (checked before lower-casing)', 'prvs=0123ABCDEF=someuser1234@example.org', '0123abcdef@example.org'],
    ['upper-case tag, short user: neither is a tag, the standard order wins', 'prvs=0123ABCDEF=Alice@Example.org', 'alice@example.org'],
    ['BATV ambiguous → standard order (last part)', 'prvs=abcdefghij=klmnopqrst@example.org', 'klmnopqrst@example.org'],
    ['BATV with a VERP user', 'prvs=1234abcdef=bounce-42@example.org', 'bounce-#@example.org'],
    ['not BATV: wrong number of parts', 'prvs=1234abcdef=a=b@example.org', 'prvs=1234abcdef=a=b@example.org'],
    ['not BATV: trailing empty part dropped like Perl split', 'prvs=1234abcdef=@example.org', 'prvs=1234abcdef=@example.org'],
    ['SRS0 hash and timestamp dropped', 'SRS0=HHH1=TT=orig.example=alice@fwd.example', 'srs0=orig.example=alice@fwd.example'],
    ['SRS0 with + separator', 'SRS0+x9Yz=AB=orig.example=alice@fwd.example', 'srs0=orig.example=alice@fwd.example'],
    ['SRS0 daily timestamps map to one key', 'SRS0=abcd=2Q=orig.example=alice@fwd.example', 'srs0=orig.example=alice@fwd.example'],
    ['SRS0 wrapping an extension', 'SRS0=abcd=2Q=orig.example=alice+tag@fwd.example', 'srs0=orig.example=alice@fwd.example'],
    ['SRS1 keeps the first forwarder', 'SRS1=HHH=fwd1.example==HHH=TT=orig.example=alice@fwd2.example', 'srs1=fwd1.example==orig.example=alice@fwd2.example'],
    ['SRS0 in lower case is SRS too (our addition, any case)', 'srs0=HHH1=TT=orig.example=alice@fwd.example', 'srs0=orig.example=alice@fwd.example'],
    ['only the first @ splits', 'a@b@example.org', 'a@b@example.org'],
    ['only A-Z are lower-cased, as Perl lc on bytes', 'JÖRG@Exämple.DE', 'jÖrg@exämple.de'],
    ['the Kelvin sign is not folded to k', '\u212Aelvin@example.org', '\u212Aelvin@example.org'],
    ['non-ASCII letters are not word characters for the number folding', 'é12@example.org', 'é#@example.org'],
  ];
  for (const [name, input, expected] of table) {
    test(`${name}: ${JSON.stringify(input)}`, () => assert.equal(normalizeSender(input), expected));
  }

  test('two BATV-signed bounces of one sender on different days share a key', () => {
    assert.equal(normalizeSender('prvs=0023abcdef=alice@example.org'), normalizeSender('prvs=0024fedcba=alice@example.org'));
  });
});
