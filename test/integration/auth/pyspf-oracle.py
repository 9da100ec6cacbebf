#!/usr/bin/python3
# The SPF oracle of python3-spf (pyspf): reads cases as JSON lines
# {"ip", "sender", "helo", "scope"} on stdin, asks the resolver at
# 127.0.0.1:PORT (argv[1]) through dnspython, and prints one result word a line.
import json
import sys

import dns.resolver
import spf

resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = ['127.0.0.1']
resolver.port = int(sys.argv[1])
resolver.lifetime = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
dns.resolver.default_resolver = resolver

for line in sys.stdin:
    case = json.loads(line)
    sender = case['sender'] if case['scope'] == 'mfrom' else 'postmaster@' + case['helo']
    q = spf.query(i=case['ip'], s=sender, h=case['helo'], timeout=resolver.lifetime)
    result, _code, _text = q.check()
    print(result, flush=True)
