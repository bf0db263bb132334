package verified_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/verified"
)

// Wiring: build from the config section, start the DNS workers, put the
// engine in the pipeline, Close at shutdown.
func Example() {
	e, err := verified.New(verified.DefaultConfig(), zerolog.Nop(), nil)
	if err != nil {
		panic(err)
	}
	e.Start()
	defer e.Close()

	p := &detect.Pipeline{Engines: []detect.Engine{e}, Budget: -1}
	googleIP := e.Ranges("googlebot")[0].Addr()
	v := p.Check(context.Background(), &detect.Request{
		ClientIP: googleIP,
		Headers:  detect.Headers{"user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
	})
	fmt.Println(v.Verified, v.VerifiedBot, v.VerifiedCategory, v.Score, v.Source)

	v = p.Check(context.Background(), &detect.Request{
		ClientIP: netip.MustParseAddr("81.2.69.160"),
		Headers:  detect.Headers{"user-agent": "Mozilla/5.0 (compatible; GPTBot/1.1; +https://openai.com/gptbot)"},
	})
	fmt.Println(v.Verified, v.Score, v.Tags)
	// Output:
	// true googlebot search_engine 1 verified_bot
	// false 1 [ai-crawler spoofed-gptbot]
}
