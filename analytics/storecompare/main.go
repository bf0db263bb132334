// Command storecompare is the measurement behind the analytics store's
// choice: the same events (realistic shape: a few hundred user agents and
// thousands of paths with long tails, tens of thousands of clients) written
// to DuckDB and to SQLite (modernc.org/sqlite), then the dashboard's queries
// over the last hour and over 30 days. It is its own module so that the
// main one does not depend on the driver it did not choose.
//
//	go run . duckdb 1000000
//	go run . sqlite 1000000
package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	_ "modernc.org/sqlite"
)

type ev struct {
	ts                                                               int64
	ref                                                              string
	score                                                            int64
	src, cat, action, rule, mode, tags, dids, ja4, vcat, ip, country string
	asn                                                              int64
	method, host, path, ua                                           string
	status, bytes, dur                                               int64
}

var uas, paths, hosts, ips, ja4s []string

func init() {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		uas = append(uas, fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.0 Safari/537.36", 100+i%30, i))
	}
	for i := 0; i < 2000; i++ {
		paths = append(paths, fmt.Sprintf("/products/%d/item-%d?page=%d", i%40, i, i%7))
	}
	hosts = []string{"shop.example.com", "api.example.com", "www.example.com", "static.example.com", "login.example.com"}
	for i := 0; i < 20000; i++ {
		ips = append(ips, fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(220), r.IntN(256), r.IntN(256), 1+r.IntN(254)))
	}
	for i := 0; i < 100; i++ {
		ja4s = append(ja4s, fmt.Sprintf("t13d1516h2_8daaf6152771_%012x", r.Uint64()&0xffffffffffff))
	}
}

var cats = []string{"automated", "likely_automated", "likely_human", "verified_bot"}
var acts = []string{"allow", "allow", "allow", "block", "managed_challenge", "rate_limit", "log"}
var srcs = []string{"heuristics", "machine_learning", "behavioral_analysis", "verified_bot", "js_detection"}

func gen(r *rand.Rand, start int64, span int64) ev {
	s := int64(1 + r.IntN(99))
	c := "likely_human"
	switch {
	case s == 1:
		c = "automated"
	case s < 30:
		c = "likely_automated"
	}
	return ev{ts: start + r.Int64N(span), ref: fmt.Sprintf("%016x", r.Uint64()), score: s, src: srcs[r.IntN(len(srcs))], cat: c,
		action: acts[r.IntN(len(acts))], rule: "rule-" + fmt.Sprint(r.IntN(8)), mode: "mitigate", tags: "headless,datacenter"[:r.IntN(3)*4],
		dids: "33554433", ja4: ja4s[r.IntN(len(ja4s))], vcat: "", ip: ips[int(r.ExpFloat64()*2000)%len(ips)], country: []string{"US", "DE", "FR", "CN", "BR"}[r.IntN(5)],
		asn: int64(r.IntN(500) + 1000), method: "GET", host: hosts[r.IntN(5)], path: paths[int(r.ExpFloat64()*300)%len(paths)], ua: uas[int(r.ExpFloat64()*30)%len(uas)],
		status: 200, bytes: int64(r.IntN(50000)), dur: int64(r.IntN(200000))}
}

const schema = `CREATE TABLE events (ts BIGINT, ref VARCHAR, score INTEGER, src VARCHAR, cat VARCHAR, action VARCHAR, rule VARCHAR, mode VARCHAR, tags VARCHAR, dids VARCHAR, ja4 VARCHAR, vcat VARCHAR, ip VARCHAR, asn INTEGER, country VARCHAR, method VARCHAR, host VARCHAR, path VARCHAR, ua VARCHAR, status INTEGER, bytes BIGINT, dur BIGINT)`

var queries = map[string]string{
	"timeseries": `SELECT ts/60000 AS m, cat, count(*) FROM events WHERE ts >= ? GROUP BY m, cat`,
	"top-ua":     `SELECT ua, count(*) c FROM events WHERE ts >= ? AND score < 30 GROUP BY ua ORDER BY c DESC LIMIT 10`,
	"top-ip":     `SELECT ip, count(*) c FROM events WHERE ts >= ? GROUP BY ip ORDER BY c DESC LIMIT 10`,
	"histogram":  `SELECT score, count(*) FROM events WHERE ts >= ? GROUP BY score`,
	"explorer":   `SELECT * FROM events WHERE ts >= ? AND host = 'shop.example.com' ORDER BY ts DESC LIMIT 50`,
}

func main() {
	n := 1_000_000
	fmt.Sscan(os.Args[2], &n)
	which := os.Args[1]
	path := filepath.Join(os.TempDir(), "storecompare-"+which+".db")
	os.Remove(path)
	os.Remove(path + ".wal")
	drv := "sqlite"
	if which == "duckdb" {
		drv = "duckdb"
	}
	db, err := sql.Open(drv, path)
	must(err)
	if drv == "sqlite" {
		for _, p := range []string{"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"} {
			_, err = db.Exec(p)
			must(err)
		}
	}
	_, err = db.Exec(schema)
	must(err)
	if drv == "sqlite" {
		_, err = db.Exec(`CREATE INDEX events_ts ON events(ts)`)
		must(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	end := time.Now().UnixMilli()
	span := int64(30 * 24 * time.Hour / time.Millisecond)
	start := end - span
	batch := 10000
	evs := make([]ev, n)
	for i := range evs {
		evs[i] = gen(r, start, span)
	}
	k := 0
	next := func() ev { k++; return evs[k-1] }
	t0 := time.Now()
	if drv == "sqlite" {
		for i := 0; i < n; i += batch {
			tx, _ := db.Begin()
			st, err := tx.Prepare(`INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`)
			must(err)
			for j := 0; j < batch; j++ {
				e := next()
				_, err = st.Exec(e.ts, e.ref, e.score, e.src, e.cat, e.action, e.rule, e.mode, e.tags, e.dids, e.ja4, e.vcat, e.ip, e.asn, e.country, e.method, e.host, e.path, e.ua, e.status, e.bytes, e.dur)
				must(err)
			}
			st.Close()
			must(tx.Commit())
		}
	} else {
		conn, err := db.Conn(context.Background())
		must(err)
		must(conn.Raw(func(dc any) error {
			for i := 0; i < n; i += batch {
				a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", "events")
				must(err)
				for j := 0; j < batch; j++ {
					e := next()
					must(a.AppendRow(e.ts, e.ref, int32(e.score), e.src, e.cat, e.action, e.rule, e.mode, e.tags, e.dids, e.ja4, e.vcat, e.ip, int32(e.asn), e.country, e.method, e.host, e.path, e.ua, int32(e.status), e.bytes, e.dur))
				}
				must(a.Close())
			}
			return nil
		}))
		conn.Close()
		_, err = db.Exec("CHECKPOINT")
		must(err)
	}
	el := time.Since(t0)
	fmt.Printf("%s: ingest %d events in %v = %.0f events/s\n", which, n, el, float64(n)/el.Seconds())
	for _, win := range []struct {
		name string
		from int64
	}{{"1h", end - 3600_000}, {"30d", start}} {
		for _, q := range []string{"timeseries", "top-ua", "top-ip", "histogram", "explorer"} {
			best := time.Hour
			for k := 0; k < 3; k++ {
				t := time.Now()
				rows, err := db.Query(queries[q], win.from)
				must(err)
				c := 0
				for rows.Next() {
					c++
				}
				rows.Close()
				best = min(best, time.Since(t))
			}
			fmt.Printf("%s: %s %-10s %v\n", which, win.name, q, best)
		}
	}
	db.Close()
	var size int64
	for _, f := range []string{path, path + "-wal", path + ".wal"} {
		if st, err := os.Stat(f); err == nil {
			size += st.Size()
		}
	}
	fmt.Printf("%s: %d bytes on disk = %.1f bytes/event\n", which, size, float64(size)/float64(n))
	_ = strings.Join
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
