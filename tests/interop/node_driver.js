// Parses every feed named on standard input (one path a line) with the npm
// parser named as the argument (rss-parser or @rowanmanning/feed-parser) and
// prints one JSON document: {path: {"items": [...]}} or {path: {"error": "..."}}.
'use strict';
const fs = require('fs');

// rss-parser keeps one link of an Atom entry and no Atom enclosure; its
// documented customFields option hands over the entry's <link> elements
// (with their attributes) from the same parse, for enclosures and related links.
function rssParser() {
  const Parser = require('rss-parser');
  const parser = new Parser({ customFields: { item: [['link', 'atomLinks', { keepArray: true }]] } });
  const atomLinks = (item, rel) =>
    (item.atomLinks || []).filter((link) => link && link.$ && link.$.rel === rel).map((link) => link.$);
  return async (xml, atom) => {
    const feed = await parser.parseString(xml);
    return feed.items.map((item) => ({
      link: item.link ?? null,
      title: item.title ?? null,
      date: item.isoDate ?? null,
      enclosures: atom
        ? atomLinks(item, 'enclosure').map((link) => ({ url: link.href, type: link.type ?? null }))
        : item.enclosure ? [{ url: item.enclosure.url, type: item.enclosure.type ?? null }] : [],
      related: atom ? atomLinks(item, 'related').map((link) => link.href) : null,
      content: item['content:encoded'] ?? item.content ?? null,
    }));
  };
}

// @rowanmanning/feed-parser: enclosures and Media RSS come together as `media`.
function feedParser() {
  const { parseFeed } = require('@rowanmanning/feed-parser');
  return async (xml) =>
    parseFeed(xml).items.map((item) => ({
      link: item.url,
      title: item.title,
      date: item.published ? item.published.toISOString() : null,
      enclosures: item.media.map((media) => ({ url: media.url, type: media.mimeType })),
      related: null,
      content: item.content,
    }));
}

const PARSERS = { 'rss-parser': rssParser, '@rowanmanning/feed-parser': feedParser };

async function main() {
  const name = process.argv[2];
  const parse = PARSERS[name]();
  const results = {};
  for (const path of fs.readFileSync(0, 'utf8').split('\n').filter(Boolean)) {
    try {
      results[path] = { items: await parse(fs.readFileSync(path, 'utf8'), path.endsWith('.atom')) };
    } catch (error) {
      results[path] = { error: String(error) };
    }
  }
  process.stdout.write(JSON.stringify(results) + '\n');
}

main();
