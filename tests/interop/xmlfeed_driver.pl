#!/usr/bin/perl
# Parses every feed named on standard input (one path a line) with XML::Feed
# and prints one JSON document: {path: {"items": [...]}} or {path: {"error": "..."}}.
# Related links: XML::Feed has no accessor; for Atom they are read from the
# XML::Atom entry it wraps (the same parse).
use strict;
use warnings;
use JSON::PP;
use XML::Feed;

$XML::Feed::MULTIPLE_ENCLOSURES = 1;  # every enclosure, in document order
$XML::Atom::ForceUnicode = 1;         # Atom text as characters, not UTF-8 bytes (XML::Atom's default)

sub parse_feed {
    my ($path) = @_;
    my $feed = eval { XML::Feed->parse($path) };
    return { error => ($@ || XML::Feed->errstr || 'not parsed') . '' } unless $feed;
    my $atom = $feed->format eq 'Atom';
    my @items;
    for my $entry ($feed->entries) {
        my $issued = $entry->issued;
        my $content = $entry->content;
        my @related;
        if ($atom) {
            @related = map { $_->href }
                grep { defined $_->rel && $_->rel eq 'related' } $entry->unwrap->link;
        }
        push @items, {
            link       => $entry->link,
            title      => $entry->title,
            date       => $issued ? $issued->clone->set_time_zone('UTC')->strftime('%Y-%m-%dT%H:%M:%SZ') : undef,
            enclosures => [map { { url => $_->url, type => $_->type } } $entry->enclosure],
            related    => $atom ? \@related : undef,
            content    => $content ? $content->body : undef,
        };
    }
    return { items => \@items };
}

my %results;
while (my $path = <STDIN>) {
    chomp $path;
    next unless length $path;
    $results{$path} = parse_feed($path);
}
print JSON::PP->new->utf8->canonical->encode(\%results), "\n";
