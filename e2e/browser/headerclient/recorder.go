package headerclient

import (
	"sync"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/e2e/gateway"
)

// Verdict is what ext_authz decided for one request, as the gateway's
// access log tells it (the ext_authz dynamic metadata).
type Verdict struct {
	Path    string
	Status  int
	Checked bool // ext_authz metadata present
	Action  detect.Action
	Rule    string
	Score   int
	Source  string
	Tags    []string
	Client  string // the client address botwarden judged
	JSD     string // JSDetectionPassed: passed, failed, missing
	Session string // the session the request carried, "" for none
}

// Recorder is a gateway.Options.Tap keeping the verdict of every request.
type Recorder struct {
	mu  sync.Mutex
	all []Verdict
}

// Log implements gateway.AccessLogger.
func (r *Recorder) Log(e *accesslogv3.HTTPAccessLogEntry) {
	v := Verdict{Path: e.GetRequest().GetPath(), Status: int(e.GetResponse().GetResponseCode().GetValue())}
	if md, ok := e.GetCommonProperties().GetMetadata().GetFilterMetadata()[gateway.MetadataNamespace]; ok {
		f := md.GetFields()
		v.Checked = true
		v.Action = detect.Action(f[detect.FieldEnforcedAction].GetStringValue())
		v.Rule = f[detect.FieldRuleID].GetStringValue()
		v.Score = int(f[detect.FieldBotScore].GetNumberValue())
		v.Source = f[detect.FieldBotScoreSrc].GetStringValue()
		v.Client = f[detect.FieldClientIP].GetStringValue()
		v.JSD = f[detect.FieldJSDetectionPassed].GetStringValue()
		v.Session = f[detect.FieldSessionID].GetStringValue()
		for _, t := range f[detect.FieldBotTags].GetListValue().GetValues() {
			v.Tags = append(v.Tags, t.GetStringValue())
		}
	}
	r.mu.Lock()
	r.all = append(r.all, v)
	r.mu.Unlock()
}

// Of returns the verdict logged for path (the crawler requests each path
// once), and whether there is one yet.
func (r *Recorder) Of(path string) (Verdict, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.all {
		if v.Path == path {
			return v, true
		}
	}
	return Verdict{}, false
}

// All returns every verdict logged so far, in order.
func (r *Recorder) All() []Verdict {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Verdict(nil), r.all...)
}
