#!/usr/bin/python3
# The DKIM oracle of python3-dkim (dkimpy): argv[1] is a JSON file
# {"records": {"sel._domainkey.domain": "v=DKIM1; ..."}, "messages": [path, ...]}.
# For each message it verifies every DKIM-Signature (dkim.DKIM.verify, idx),
# with the TXT records from the file instead of DNS, and prints one line per
# message: the results, space-separated, in header order ("pass", "fail").
import json
import sys

import dkim

case = json.load(open(sys.argv[1]))
records = case['records']


def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode('ascii')
    txt = records.get(name.rstrip('.').lower())
    return None if txt is None else txt.encode('ascii')


for path in case['messages']:
    message = open(path, 'rb').read()
    count = sum(1 for line in message.split(b'\r\n\r\n', 1)[0].split(b'\r\n') if line.lower().startswith(b'dkim-signature:'))
    d = dkim.DKIM(message)
    results = []
    for idx in range(count):
        try:
            results.append('pass' if d.verify(idx=idx, dnsfunc=dnsfunc) else 'fail')
        except dkim.DKIMException as e:
            results.append('fail:' + str(e).replace(' ', '_'))
    print(' '.join(results) if results else 'none')
