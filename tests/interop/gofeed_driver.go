// Parses every feed named on standard input (one path a line) with gofeed and
// prints one JSON document: {path: {"items": [...]}} or {path: {"error": "..."}}.
// Atom goes through gofeed's atom parser and its own translator (what
// gofeed.NewParser does) so that the entry links the translator drops
// (rel="related") can be read from the same parse.
package main

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/mmcdole/gofeed/atom"
)

type enclosure struct {
	URL  string `json:"url"`
	Type string `json:"type"`
}

type item struct {
	Link       string      `json:"link"`
	Title      string      `json:"title"`
	Date       string      `json:"date"`
	Enclosures []enclosure `json:"enclosures"`
	Related    []string    `json:"related"`
	Content    string      `json:"content"`
}

type result struct {
	Items []item `json:"items"`
	Error string `json:"error,omitempty"`
}

func date(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func parse(path string) (result, error) {
	file, err := os.Open(path)
	if err != nil {
		return result{}, err
	}
	defer file.Close()
	var feed *gofeed.Feed
	var related [][]string
	if strings.HasSuffix(path, ".atom") {
		raw, err := (&atom.Parser{}).Parse(file)
		if err != nil {
			return result{}, err
		}
		for _, entry := range raw.Entries {
			urls := []string{}
			for _, link := range entry.Links {
				if link.Rel == "related" {
					urls = append(urls, link.Href)
				}
			}
			related = append(related, urls)
		}
		feed, err = (&gofeed.DefaultAtomTranslator{}).Translate(raw)
		if err != nil {
			return result{}, err
		}
	} else {
		feed, err = gofeed.NewParser().Parse(file)
		if err != nil {
			return result{}, err
		}
	}
	out := result{Items: []item{}}
	for i, entry := range feed.Items {
		it := item{Link: entry.Link, Title: entry.Title, Date: date(entry.PublishedParsed),
			Enclosures: []enclosure{}, Content: entry.Content}
		for _, e := range entry.Enclosures {
			it.Enclosures = append(it.Enclosures, enclosure{URL: e.URL, Type: e.Type})
		}
		if related != nil {
			it.Related = related[i]
		}
		out.Items = append(out.Items, it)
	}
	return out, nil
}

func main() {
	results := map[string]result{}
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		path := lines.Text()
		parsed, err := parse(path)
		if err != nil {
			parsed = result{Error: err.Error()}
		}
		results[path] = parsed
	}
	json.NewEncoder(os.Stdout).Encode(results)
}
