#!/usr/bin/env python3
"""The realistic chain of bench/rules/realistic.rules, written by hand the way a
mail admin would: a readline loop, str.split, Python `re`, print(flush=True).

It is a yardstick for scenario 1, not an example to follow. It registers the
same phases and report events as the filter under test (--phases/--events,
comma-separated) and decides exactly what realistic.rules decides:

  connect    accept when src in trusted
             disconnect "421 4.7.0 ..." when rdns ~ dynamic-looking names
  helo       reject "550 5.7.1 bare IP address in HELO" when helo ~ bare IP
             junk when helo ~ localhost/localdomain
  mail-from  reject "550 5.7.1 ..." when mail-from in blocked senders
  rcpt-to    reject "550 5.1.1 ..." when rcpt-to ~ role accounts

Everything else proceeds. A session accepted at connect proceeds everywhere.
"""
import ipaddress
import re
import sys

TRUSTED = [ipaddress.ip_network(n) for n in ('127.0.0.0/8', '::1/128', '192.0.2.0/24')]
BLOCKED_SENDERS = {'bulk@spam.example', 'offers@deals.example', 'noreply@phish.example'}
DYNAMIC_RDNS = re.compile(r'(^|[.-])(dsl|dynamic|pool|dhcp|ppp)[0-9]*[.-]', re.IGNORECASE)
BARE_IP_HELO = re.compile(r'^\[?[0-9.]+\]?$', re.IGNORECASE)
LOCAL_HELO = re.compile(r'(^|\.)(localhost|localdomain)$', re.IGNORECASE)
ROLE_RCPT = re.compile(r'^(root|mailer-daemon|nobody)@', re.IGNORECASE)

PHASES = 'connect,helo,ehlo,mail-from,rcpt-to,data,commit'
EVENTS = ('link-connect,link-disconnect,link-identify,tx-begin,tx-mail,tx-rcpt,tx-reset,'
          'tx-commit,tx-rollback,protocol-server')

accepted = set()


def answer(sid, token, decision):
    print('filter-result|%s|%s|%s' % (sid, token, decision), flush=True)


def is_trusted(src):
    try:
        ip = ipaddress.ip_address(src.strip('[]'))
    except ValueError:
        return False
    return any(ip in net for net in TRUSTED)


def decide(phase, sid, param):
    if sid in accepted:
        return 'proceed'
    if phase == 'connect':
        rdns, src = param.split('|', 1)
        if is_trusted(src):
            accepted.add(sid)
            return 'proceed'
        if rdns != '<unknown>' and DYNAMIC_RDNS.search(rdns):
            return "disconnect|421 4.7.0 dynamic address, use your provider's relay"
    elif phase in ('helo', 'ehlo'):
        if BARE_IP_HELO.search(param):
            return 'reject|550 5.7.1 bare IP address in HELO'
        if LOCAL_HELO.search(param):
            return 'junk'
    elif phase == 'mail-from':
        if param.lower() in BLOCKED_SENDERS:
            return 'reject|550 5.7.1 sender refused'
    elif phase == 'rcpt-to':
        if ROLE_RCPT.search(param):
            return 'reject|550 5.1.1 no such user'
    return 'proceed'


def main():
    phases, events = PHASES, EVENTS
    args = sys.argv[1:]
    while args:
        if args[0] == '--phases' and len(args) > 1:
            phases = args[1]
        elif args[0] == '--events' and len(args) > 1:
            events = args[1]
        else:
            sys.stderr.write('usage: naive-filter.py [--phases a,b] [--events x,y]\n')
            sys.exit(2)
        args = args[2:]

    while True:
        line = sys.stdin.readline()
        if not line:
            return
        line = line.rstrip('\n')
        if line.startswith('config|'):
            if line == 'config|ready':
                for p in phases.split(','):
                    if p:
                        print('register|filter|smtp-in|' + p, flush=True)
                for e in events.split(','):
                    if e:
                        print('register|report|smtp-in|' + e, flush=True)
                print('register|ready', flush=True)
            continue
        fields = line.split('|')
        if fields[0] == 'report':
            if fields[4] == 'link-disconnect':
                accepted.discard(fields[5])
            continue
        if fields[0] != 'filter':
            continue
        fields = line.split('|', 7)
        phase, sid, token = fields[4], fields[5], fields[6]
        param = fields[7] if len(fields) > 7 else ''
        if phase == 'data-line':
            print('filter-dataline|%s|%s|%s' % (sid, token, param), flush=True)
            continue
        answer(sid, token, decide(phase, sid, param))


if __name__ == '__main__':
    main()
