package headerclient

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestChromeNavigationOnTheWire: the client sends the corpus's Chrome
// navigation headers, after Host and Connection, in the corpus's order,
// with the jar's cookie and the referer where Chrome puts them.
func TestChromeNavigationOnTheWire(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	got := make(chan []string, 1)
	go func() {
		conn, err := lis.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		var names []string
		for {
			line, err := br.ReadString('\n')
			line = strings.TrimRight(line, "\r\n")
			if err != nil || line == "" {
				break
			}
			if name, _, ok := strings.Cut(line, ":"); ok {
				names = append(names, name)
			}
		}
		got <- names
		_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n"))
	}()
	c, err := New("http://"+lis.Addr().String(), "203.0.113.1", ChromeUA, time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.HTTP.Jar.SetCookies(mustURL(t, c.Base), []*http.Cookie{{Name: "sid", Value: "1"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = c.get(ctx, "/products/2", c.Base+"/products/1")
	names := <-got
	want := []string{"Host", "Connection"}
	for _, h := range c.Headers {
		want = append(want, wireName(h.Name))
		if h.Name == "sec-fetch-dest" {
			want = append(want, "Referer")
		}
		if h.Name == "accept-language" {
			want = append(want, "Cookie")
		}
	}
	want = append(want, "X-Forwarded-For")
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("wire order\n got %v\nwant %v", names, want)
	}
	for _, must := range []string{"sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform", "Upgrade-Insecure-Requests", "User-Agent", "Accept",
		"Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-User", "Sec-Fetch-Dest", "Accept-Encoding", "Accept-Language"} {
		if !strings.Contains(","+strings.Join(names, ",")+",", ","+must+",") {
			t.Errorf("%s not sent: %v", must, names)
		}
	}
	t.Logf("headers: %v", c.Headers)
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
