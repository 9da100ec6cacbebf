/** The real connector: node:net sockets to unix paths and TCP hosts. The only I/O edge of src/policy. */
import { createConnection } from 'node:net';
import type { PolicyConnector, PolicySocket } from './connection.js';

export const netConnector: PolicyConnector = (address): PolicySocket => {
  switch (address.kind) {
    case 'unix':
      return createConnection({ path: address.path });
    case 'tcp': {
      const socket = createConnection({ host: address.host, port: address.port });
      // Requests are one small write each; do not let Nagle hold them back.
      socket.setNoDelay(true);
      return socket;
    }
  }
};
