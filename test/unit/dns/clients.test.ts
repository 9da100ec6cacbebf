import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DnsClients, dnsClientsOf } from '../../../src/dns/clients.js';
import type { DnsblService } from '../../../src/steps/dnsbl/run.js';
import { createServices } from '../../../src/steps/services.js';
import type { SpfService } from '../../../src/steps/spf/run.js';
import { FakeClock } from '../../../src/support/clock.js';
import { silentLogger } from '../../../src/support/log.js';
import { FakeTransport } from './fake-transport.js';

describe('the process’s DNS clients', () => {
  test('one client per resolver; one registry per owner', () => {
    const clock = new FakeClock();
    const clients = new DnsClients({ clock, transport: () => new FakeTransport() });
    const system = clients.clientFor(null);
    assert.equal(clients.clientFor(null), system);
    const dedicated = clients.clientFor({ host: '127.0.0.1', port: 5353 });
    assert.notEqual(dedicated, system);
    assert.deepEqual([...clients.all.keys()], ['system', '127.0.0.1:5353']);
    const owner = {};
    const made = dnsClientsOf(owner, () => clients);
    assert.equal(dnsClientsOf(owner, () => new DnsClients({ clock })), made);
    assert.notEqual(dnsClientsOf({}, () => new DnsClients({ clock })), made);
  });

  test('the services of one process share them: spf asks through the client the DNS lists use for resolv.conf', () => {
    const clock = new FakeClock();
    const services = createServices({ clock, log: silentLogger, platform: 'none', dns: { transport: () => new FakeTransport() } });
    const spf = services.spf as SpfService;
    const dnsbl = services.dnsbl as DnsblService;
    assert.equal(dnsbl.clients.get('system'), spf.client);
  });
});
