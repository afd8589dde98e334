<?php
// Parses every feed named on standard input (one path a line) with SimplePie
// and prints one JSON document: {path: {"items": [...]}} or {path: {"error": "..."}}.
// Values are printed as SimplePie returns them; its quirks are undone in
// quirks.py, in one place. The one exception: get_date() fails under PHP 8.2
// (Debian's 1.3.1), so the date is the item's raw date element
// (pubDate / atom:published), which get_date() would have parsed.
error_reporting(E_ALL & ~E_DEPRECATED & ~E_NOTICE & ~E_WARNING);
require_once '/usr/share/php/simplepie/autoloader.php';

function raw_date($item) {
    foreach ([[SIMPLEPIE_NAMESPACE_RSS_20, 'pubDate'], [SIMPLEPIE_NAMESPACE_ATOM_10, 'published']] as $tag) {
        $found = $item->get_item_tags($tag[0], $tag[1]);
        if ($found) {
            return $found[0]['data'];
        }
    }
    return null;
}

function parse_feed($path) {
    $feed = new SimplePie();
    $feed->enable_cache(false);
    $feed->set_raw_data(file_get_contents($path));
    $feed->enable_order_by_date(false);  // the document's order, as written
    if (!$feed->init()) {
        return ['error' => (string) $feed->error()];
    }
    $items = [];
    foreach ($feed->get_items() as $item) {
        $enclosures = [];
        foreach ((array) $item->get_enclosures() as $enclosure) {
            if ($enclosure && $enclosure->get_link() !== null) {
                $enclosures[] = ['url' => $enclosure->get_link(), 'type' => $enclosure->get_type()];
            }
        }
        $items[] = [
            'link' => $item->get_permalink(),
            'title' => $item->get_title(),
            'date' => raw_date($item),
            'enclosures' => $enclosures,
            'related' => str_ends_with($path, '.atom') ? (array) $item->get_links('related') : null,
            'content' => $item->get_content(true),
        ];
    }
    return ['items' => $items];
}

$results = [];
while (($line = fgets(STDIN)) !== false) {
    $path = rtrim($line, "\n");
    if ($path !== '') {
        $results[$path] = parse_feed($path);
    }
}
echo json_encode($results, JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE), "\n";
