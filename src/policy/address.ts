/** Moved to model/address.ts, the one parser and formatter (issue 11 stage 4a; this shim goes in stage 13). */
export { formatPolicyAddress, type PolicyAddress } from '../model/address.js';
