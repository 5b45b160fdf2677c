#!/usr/bin/perl
# dropin.pl: a short program against Debian's NanoMsg::Raw (an XS binding
# built for the stock libnanomsg), run by perl_dropin.sh once on the stock
# library and once on femtomsg's. It prints a transcript of what it saw
# (constants, messages, error numbers and texts) on stdout, which must be
# the same for both libraries, and the path of the libnanomsg it mapped on
# stderr. Exit status: 0 when every check held.
#
#   perl dropin.pl IPC_DIR TCP_PORT
use strict;
use warnings;
use NanoMsg::Raw;
use Time::HiRes qw(time);

my ($ipcdir, $port) = @ARGV;
die "usage: $0 IPC_DIR TCP_PORT\n" unless defined $port;
my $fails = 0;

sub check {
    my ($ok, $what) = @_;
    print $ok ? "ok: $what\n" : "FAIL: $what\n";
    $fails++ unless $ok;
}

# The module resolved its constants through nn_symbol when it loaded:
# the same list and values are the first sign of the same library.
{
    open my $maps, '<', '/proc/self/maps' or die "maps: $!";
    my %libs;
    while (<$maps>) { $libs{$1} = 1 if m{(/\S*libnanomsg\S*)} }
    print STDERR "mapped: $_\n" for sort keys %libs;
    my @syms = sort(NanoMsg::Raw::_symbols());
    no strict 'refs';
    print "symbols: ", scalar(@syms), "\n";
    print "  $_ = ", &{"NanoMsg::Raw::$_"}(), "\n" for @syms;
}

# Error state after a failed call: number, its text, and that nn_errno's
# string value is nn_strerror's.
sub expect_err {
    my ($what, $rc, $want) = @_;
    my $e = nn_errno();
    my $num = $e + 0;
    check(!defined $rc, "$what: the call fails");
    check($num == $want, "$what: errno $num, want $want");
    check("$e" eq nn_strerror($num), "$what: nn_errno as text is nn_strerror");
    print "  $what: $num '", nn_strerror($num), "'\n";
}

sub timeouts {
    my ($s, $ms) = @_;
    nn_setsockopt($s, NN_SOL_SOCKET, NN_RCVTIMEO, $ms) or die "RCVTIMEO: " . nn_errno();
    nn_setsockopt($s, NN_SOL_SOCKET, NN_SNDTIMEO, $ms) or die "SNDTIMEO: " . nn_errno();
}

# Bind, moving to the next port while another program holds this one
# (which also shows EADDRINUSE coming through).
sub bind_to {
    my ($s, $kind, $name) = @_;
    for (1 .. 20) {
        my $addr = $kind eq 'tcp' ? "tcp://127.0.0.1:$port" : "ipc://$ipcdir/$name.ipc";
        return $addr if defined nn_bind($s, $addr);
        die "bind $addr: " . nn_errno() unless $kind eq 'tcp' && nn_errno() == EADDRINUSE;
        $port++;
    }
    die "no free port";
}

for my $kind ('tcp', 'ipc') {
    # REQ/REP round trip: plain buffers one way, message objects the other.
    my $rep = nn_socket(AF_SP, NN_REP);
    my $req = nn_socket(AF_SP, NN_REQ);
    check(defined $rep && defined $req, "$kind: REQ and REP sockets");
    timeouts($_, 10000) for $rep, $req;
    my $addr = bind_to($rep, $kind, 'reqrep');
    check(defined nn_connect($req, $addr), "$kind: REQ connects");
    expect_err("$kind: REP send before a request", nn_send($rep, 'x'), EFSM);
    expect_err("$kind: REQ recv before a request", nn_recv($req, my $none, 16), EFSM);
    check((nn_send($req, 'ping') // -1) == 4, "$kind: REQ sends ping");
    my ($buf, $msg);
    check((nn_recv($rep, $buf, 256) // -1) == 4 && $buf eq 'ping', "$kind: REP receives ping");
    my $out = nn_allocmsg(4, 0);
    $out->copy('pong');
    check((nn_send($rep, $out) // -1) == 4, "$kind: REP sends pong from nn_allocmsg");
    check((nn_recv($req, $msg) // -1) == 4 && "$msg" eq 'pong', "$kind: REQ receives pong as NN_MSG");
    check(unpack('i', nn_getsockopt($req, NN_SOL_SOCKET, NN_PROTOCOL)) == NN_REQ, "$kind: NN_PROTOCOL");
    check(unpack('i', nn_getsockopt($rep, NN_SOL_SOCKET, NN_DOMAIN)) == AF_SP, "$kind: NN_DOMAIN");
    nn_close($_) or die "close: " . nn_errno() for $req, $rep;

    # PUB/SUB: the subscriber connects at some point after the publisher
    # started, so publish until it hears (or a generous deadline passes).
    my $pub = nn_socket(AF_SP, NN_PUB);
    my $sub = nn_socket(AF_SP, NN_SUB);
    $addr = bind_to($pub, $kind, 'pubsub');
    check(nn_setsockopt($sub, NN_SUB, NN_SUB_SUBSCRIBE, 'news'), "$kind: SUB subscribes to news");
    timeouts($sub, 100);
    check(defined nn_connect($sub, $addr), "$kind: SUB connects");
    expect_err("$kind: recv on PUB", nn_recv($pub, my $nothing, 16), ENOTSUP);
    expect_err("$kind: send on SUB", nn_send($sub, 'x'), ENOTSUP);
    my ($got, $stray) = ('', 0);
    my $deadline = time + 20;
    while ($got eq '' && time < $deadline) {
        nn_send($pub, 'weather: rain') // die "pub: " . nn_errno();
        nn_send($pub, 'news: femtomsg') // die "pub: " . nn_errno();
        my $n = nn_recv($sub, my $m, 256);
        if (!defined $n) {
            die "sub: " . nn_errno() unless nn_errno() == ETIMEDOUT || nn_errno() == EAGAIN;
            next;
        }
        $m =~ /^news/ ? ($got = $m) : $stray++;
    }
    check($got eq 'news: femtomsg', "$kind: SUB receives the news");
    check($stray == 0, "$kind: SUB receives nothing it did not subscribe to");
    # Once the subscriber has heard, its receive timeout shows as ETIMEDOUT
    # or as a stray duplicate of the news: drain until it times out.
    my $t;
    while (defined($t = nn_recv($sub, my $rest, 256))) { }
    expect_err("$kind: SUB recv times out", $t, ETIMEDOUT);
    nn_close($_) or die "close: " . nn_errno() for $sub, $pub;
}

# Plain API errors.
expect_err('socket of unknown protocol', nn_socket(AF_SP, 12345), EINVAL);
expect_err('socket of unknown domain', nn_socket(12345, NN_PAIR), EAFNOSUPPORT);
my $s = nn_socket(AF_SP, NN_PAIR);
expect_err('bind to an unknown transport', nn_bind($s, 'nope://x'), EPROTONOSUPPORT);
expect_err('connect to a malformed tcp address', nn_connect($s, 'tcp://'), EINVAL);
expect_err('unknown socket option', nn_setsockopt($s, NN_SOL_SOCKET, 9999, 1), ENOPROTOOPT);
expect_err('recv with DONTWAIT', nn_recv($s, my $b, 16, NN_DONTWAIT), EAGAIN);
expect_err('shutdown of an unknown endpoint', nn_shutdown($s, 4242), EINVAL);
expect_err('close of a socket that is not there', nn_close(4000), EBADF);
print "  strerror ETERM: '", nn_strerror(ETERM), "'\n";
print "  strerror EFSM: '", nn_strerror(EFSM), "'\n";
nn_close($s);
nn_term();
expect_err('socket after nn_term', nn_socket(AF_SP, NN_PAIR), ETERM);

print $fails ? "$fails check(s) failed\n" : "all checks passed\n";
exit($fails ? 1 : 0);
