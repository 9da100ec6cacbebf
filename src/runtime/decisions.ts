export * from '../protocol/smtpd-rules.js';
