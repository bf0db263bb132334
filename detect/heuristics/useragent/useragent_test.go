package useragent

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		ua   string
		want Agent
	}{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36",
			Agent{Family: FamilyChrome, Engine: EngineBlink, OS: OSWindows, Major: 147, ChromiumMajor: 147, Mozilla: true}},
		{"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Mobile Safari/537.36",
			Agent{Family: FamilyChrome, Engine: EngineBlink, OS: OSAndroid, Major: 147, ChromiumMajor: 147, Mobile: true, Mozilla: true}},
		{"Mozilla/5.0 (Linux; Android 12; Pixel 6 Build/SD1A; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.43 Mobile Safari/537.36",
			Agent{Family: FamilyChrome, Engine: EngineBlink, OS: OSAndroid, Major: 120, ChromiumMajor: 120, Mobile: true, WebView: true, Mozilla: true}},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36 Edg/147.0.3179.54",
			Agent{Family: FamilyEdge, Engine: EngineBlink, OS: OSWindows, Major: 147, ChromiumMajor: 147, Mozilla: true}},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/64.0.3282.140 Safari/537.36 Edge/17.17134",
			Agent{Family: FamilyEdgeLegacy, Engine: EngineEdgeHTML, OS: OSWindows, Major: 17, Mozilla: true}},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/146.0.0.0 Safari/537.36 OPR/131.0.0.0",
			Agent{Family: FamilyOpera, Engine: EngineBlink, OS: OSWindows, Major: 131, ChromiumMajor: 146, Mozilla: true}},
		{"Opera/9.80 (J2ME/MIDP; Opera Mini/6.5.27510/34.1624; U; en) Presto/2.8.119 Version/11.10",
			Agent{Family: FamilyOperaPresto, Engine: EnginePresto, OS: OSOther, Major: 11}},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:150.0) Gecko/20100101 Firefox/150.0",
			Agent{Family: FamilyFirefox, Engine: EngineGecko, OS: OSLinux, Major: 150, Mozilla: true}},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/147.0.7727.47 Mobile/15E148 Safari/604.1",
			Agent{Family: FamilyChrome, Engine: EngineWebKit, OS: OSIOS, Major: 147, Mobile: true, Mozilla: true}},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.4 Safari/605.1.15",
			Agent{Family: FamilySafari, Engine: EngineWebKit, OS: OSMacOS, Major: 26, Mozilla: true}},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
			Agent{Family: FamilySafari, Engine: EngineWebKit, OS: OSIOS, Mobile: true, WebView: true, Mozilla: true}},
		{"Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
			Agent{Family: FamilyIE, Engine: EngineTrident, OS: OSWindows, Major: 11, Mozilla: true}},
		{"Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
			Agent{Family: FamilySamsung, Engine: EngineBlink, OS: OSAndroid, Major: 23, ChromiumMajor: 115, Mobile: true, Mozilla: true}},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/113.0.5672.63 Safari/537.36",
			Agent{Family: FamilyHeadless, Engine: EngineBlink, OS: OSLinux, Major: 113, ChromiumMajor: 113, Mozilla: true}},
		{"Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Slack/4.4.2 Chrome/78.0.3904.130 Electron/7.2.1 Safari/537.36",
			Agent{Family: FamilyOther, Engine: EngineBlink, OS: OSWindows, ChromiumMajor: 78, Mozilla: true}},
		{"curl/8.5.0", Agent{}},
		{"", Agent{}},
		{"Mozilla/5.0 Chrome/99999999999999999999 AppleWebKit/1", Agent{Family: FamilyOther, Engine: EngineBlink, ChromiumMajor: 100000, Mozilla: true}},
	}
	for _, tt := range tests {
		if got := Parse(tt.ua); got != tt.want {
			t.Errorf("Parse(%q)\n got %+v\nwant %+v", tt.ua, got, tt.want)
		}
	}
}

func TestBrowserAndNames(t *testing.T) {
	if !(Agent{Family: FamilyFirefox}).Browser() || (Agent{Family: FamilyHeadless}).Browser() || (Agent{Family: FamilyOther}).Browser() {
		t.Error("Browser() disagrees with the family list")
	}
	if FamilyEdge.String() != "edge" || EngineGecko.String() != "gecko" || OSIOS.String() != "ios" || Family(200).String() != "unknown" {
		t.Error("names")
	}
}

func FuzzParse(f *testing.F) {
	f.Add("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36")
	f.Add("Chrome/")
	f.Fuzz(func(t *testing.T, ua string) {
		a := Parse(ua)
		if a.Major < 0 || a.ChromiumMajor < 0 || a.Major > 100000 {
			t.Fatalf("versions out of range: %+v", a)
		}
	})
}
