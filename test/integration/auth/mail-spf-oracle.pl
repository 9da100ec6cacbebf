#!/usr/bin/perl
# The SPF oracle of Mail::SPF (libmail-spf-perl): reads cases as JSON lines
# {"ip", "sender", "helo", "scope"} on stdin, asks the resolver at
# 127.0.0.1:PORT (ARGV[0]) through Net::DNS, and prints one result word a line.
use strict;
use warnings;
use JSON::PP;
use Mail::SPF;
use Net::DNS::Resolver;

$| = 1;
my $port = $ARGV[0];
my $timeout = $ARGV[1] // 2;
my $resolver = Net::DNS::Resolver->new(nameservers => ['127.0.0.1'], port => $port, recurse => 1, udp_timeout => $timeout, tcp_timeout => $timeout, retry => 1, retrans => $timeout);
my $server = Mail::SPF::Server->new(dns_resolver => $resolver);

while (my $line = <STDIN>) {
    my $case = decode_json($line);
    my $scope = $case->{scope};
    my $identity = $scope eq 'mfrom' ? $case->{sender} : $case->{helo};
    my $request = Mail::SPF::Request->new(
        versions => [1],
        scope => $scope,
        identity => $identity,
        ip_address => $case->{ip},
        helo_identity => $case->{helo},
    );
    my $result = $server->process($request);
    print $result->code, "\n";
}
