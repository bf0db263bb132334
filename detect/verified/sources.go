package verified

import "github.com/botwarden/botwarden/detect/ranges"

// Sources returns the official URLs `botwarden update-ranges` refreshes the
// verified-bot sets from. The URLs are the ones the operators document (see
// Bot.Docs) and that lord-alfred/ipranges' downloader scripts and Google's
// crawler documentation use. Sets with no source here (Kagi, Mojeek, Qwant,
// Marginalia, Mistral, updown.io: no machine-readable list of a known shape)
// keep their embedded contents.
func Sources() []ranges.Source {
	const (
		g    = "https://developers.google.com/static/crawling/ipranges/"
		ripe = "https://stat.ripe.net/data/announced-prefixes/data.json?resource="
	)
	pj, txt, rs := ranges.FormatPrefixesJSON, ranges.FormatText, ranges.FormatRIPEstat
	return []ranges.Source{
		{Set: "google-crawlers", URL: g + "common-crawlers.json", Format: pj, Doc: docGoogle},
		{Set: "google-special-crawlers", URL: g + "special-crawlers.json", Format: pj, Doc: docGoogle},
		{Set: "google-fetchers", URL: g + "user-triggered-fetchers-google.json", Format: pj, Doc: docGoogle},
		{Set: "google-fetchers-gcp", URL: g + "user-triggered-fetchers.json", Format: pj, Doc: docGoogle},
		{Set: "bingbot", URL: "https://www.bing.com/toolbox/bingbot.json", Format: pj, Doc: docBing},
		{Set: "openai-gptbot", URL: "https://openai.com/gptbot.json", Format: pj, Doc: docOpenAI},
		{Set: "openai-searchbot", URL: "https://openai.com/searchbot.json", Format: pj, Doc: docOpenAI},
		{Set: "openai-chatgpt-user", URL: "https://openai.com/chatgpt-user.json", Format: pj, Doc: docOpenAI},
		{Set: "openai", URL: "https://openai.com/gptbot.json", Format: pj, Doc: docOpenAI},
		{Set: "openai", URL: "https://openai.com/searchbot.json", Format: pj, Doc: docOpenAI},
		{Set: "openai", URL: "https://openai.com/chatgpt-user.json", Format: pj, Doc: docOpenAI},
		{Set: "perplexitybot", URL: "https://www.perplexity.ai/perplexitybot.json", Format: pj, Doc: docPerplexity},
		{Set: "perplexity-user", URL: "https://www.perplexity.ai/perplexity-user.json", Format: pj, Doc: docPerplexity},
		{Set: "perplexity", URL: "https://www.perplexity.ai/perplexitybot.json", Format: pj, Doc: docPerplexity},
		{Set: "perplexity", URL: "https://www.perplexity.ai/perplexity-user.json", Format: pj, Doc: docPerplexity},
		{Set: "duckduckbot", URL: "https://duckduckgo.com/duckduckbot.json", Format: pj, Doc: docDDG},
		{Set: "duckassistbot", URL: "https://duckduckgo.com/duckassistbot.json", Format: pj, Doc: docDDGAssist},
		{Set: "applebot", URL: "https://search.developer.apple.com/applebot.json", Format: pj, Doc: docApple},
		{Set: "ccbot", URL: "https://index.commoncrawl.org/ccbot.json", Format: pj, Doc: docCCBot},
		// Meta and X document their crawlers by AS number (Meta: "whois -h
		// whois.radb.net -- '-i origin AS32934'"); RIPEstat serves the
		// announced prefixes of an AS as JSON.
		{Set: "facebook", URL: ripe + "AS32934", Format: rs, Doc: docMeta},
		{Set: "facebook", URL: ripe + "AS54115", Format: rs, Doc: docMeta},
		{Set: "facebook", URL: ripe + "AS63293", Format: rs, Doc: docMeta},
		{Set: "twitter", URL: ripe + "AS13414", Format: rs},
		{Set: "twitter", URL: ripe + "AS35995", Format: rs},
		{Set: "twitter", URL: ripe + "AS63179", Format: rs},
		{Set: "internet-archive", URL: ripe + "AS7941", Format: rs},
		{Set: "telegram", URL: "https://core.telegram.org/resources/cidr.txt", Format: txt},
		{Set: "pingdom", URL: "https://my.pingdom.com/probes/ipv4", Format: txt},
		{Set: "pingdom", URL: "https://my.pingdom.com/probes/ipv6", Format: txt},
		{Set: "statuscake", URL: "https://app.statuscake.com/Workfloor/Locations.php?format=txt", Format: txt},
		{Set: "uptimerobot", URL: "https://uptimerobot.com/inc/files/ips/IPv4andIPv6.txt", Format: txt},
	}
}
