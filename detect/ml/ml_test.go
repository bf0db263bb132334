package ml_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/botwarden/botwarden/detect"
	"github.com/botwarden/botwarden/detect/ml"
	"github.com/botwarden/botwarden/detect/ml/corpus"
)

const (
	chromeUA  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36"
	firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:150.0) Gecko/20100101 Firefox/150.0"
)

// smallSet is a labelled set generated from a handful of UAs.
func smallSet() []ml.Example {
	var out []ml.Example
	for i := uint64(0); i < 40; i++ {
		for _, k := range corpus.Kinds {
			out = append(out, corpus.BrowserRequest(i, chromeUA, k), corpus.BrowserRequest(i, firefoxUA, k))
		}
		out = append(out,
			corpus.BotRequest(i, "python-requests/2.32.3", corpus.ToolRequests),
			corpus.BotRequest(i, "curl/8.5.0", corpus.ToolCurl),
			corpus.BotRequest(i, chromeUA, corpus.ToolGo),
			corpus.BotRequest(i, "Mozilla/5.0 (compatible; ExampleBot/1.0)", corpus.ToolCrawler))
	}
	return out
}

func TestTrainFromJSONLines(t *testing.T) {
	var buf bytes.Buffer
	if err := ml.WriteExamples(&buf, smallSet()); err != nil {
		t.Fatal(err)
	}
	m, err := ml.Train(&buf, ml.TrainOptions{Epochs: 200, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	met, err := ml.Evaluate(m, smallSet())
	if err != nil {
		t.Fatal(err)
	}
	if met.AUC < 0.99 || met.RecallAt30 < 0.9 || met.HumanBelow30 > 0.01 {
		t.Errorf("in-sample metrics too poor for a separable set: %+v", met)
	}
	// Round trip through JSON.
	var saved bytes.Buffer
	if err := m.Save(&saved); err != nil {
		t.Fatal(err)
	}
	back, err := ml.LoadModel(&saved)
	if err != nil {
		t.Fatal(err)
	}
	if back.Version != "test" || back.Bias != m.Bias || len(back.Weights) != len(m.Weights) {
		t.Errorf("round trip changed the model")
	}
}

func TestTrainErrors(t *testing.T) {
	for name, in := range map[string]string{
		"bad json":   "{\"label\":\"bot\"}\n{nope\n",
		"bad label":  `{"label":"robot","headers":{}}`,
		"one class":  `{"label":"bot","headers":{"user-agent":"curl/8"}}`,
		"no classes": "",
	} {
		if _, err := ml.Train(strings.NewReader(in), ml.TrainOptions{}); err == nil {
			t.Errorf("%s: no error", name)
		} else if name == "bad json" && !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%s: error %v does not name line 2", name, err)
		}
	}
}

func TestLoadModelErrors(t *testing.T) {
	good, err := ml.EmbeddedModel()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	good.Save(&buf)
	for name, in := range map[string]string{
		"garbage":        "not json",
		"unknown field":  strings.Replace(buf.String(), `"version"`, `"versoin"`, 1),
		"wrong features": `{"version":"x","features":["a"],"weights":[1],"bias":0}`,
		"few weights":    strings.Replace(buf.String(), `"weights": [`, `"weights": [1],"x":[`, 1),
	} {
		if _, err := ml.LoadModel(strings.NewReader(in)); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

func TestScoreRange(t *testing.T) {
	for _, p := range []float64{0, 1e-9, 0.5, 0.72, 0.999, 1} {
		if s := ml.Score(p); s < 2 || s > 99 {
			t.Errorf("Score(%v) = %d outside 2..99", p, s)
		}
	}
	if ml.Score(0) != 99 || ml.Score(1) != 2 || ml.Score(0.5) < 30 {
		t.Errorf("Score mapping: 0→%d 1→%d 0.5→%d", ml.Score(0), ml.Score(1), ml.Score(0.5))
	}
}

func TestEngine(t *testing.T) {
	e, err := ml.New(ml.DefaultConfig(), zerolog.Nop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	human := corpus.BrowserRequest(3, chromeUA, corpus.KindNavigate)
	bot := corpus.BotRequest(3, chromeUA, corpus.ToolRequests)
	for name, tc := range map[string]struct {
		ex    ml.Example
		human bool
	}{"chrome": {human, true}, "requests with a chrome UA": {bot, false}} {
		v := &detect.Verdict{}
		if err := e.Evaluate(context.Background(), tc.ex.Request(), v); err != nil {
			t.Fatal(err)
		}
		if v.Source != detect.SourceML || v.Score < 2 || v.Score > 99 || (v.Score >= 30) != tc.human {
			t.Errorf("%s: score %d from %s", name, v.Score, v.Source)
		}
	}
	// A heuristic verdict of 1 stands; the engine adds nothing.
	v := &detect.Verdict{}
	v.Automated(detect.SourceHeuristics, 10111, "http-library")
	e.Evaluate(context.Background(), human.Request(), v)
	if v.Score != 1 || v.Source != detect.SourceHeuristics {
		t.Errorf("ML changed a heuristic verdict: %d %s", v.Score, v.Source)
	}
	if _, err := ml.New(ml.Config{ModelFile: "/nonexistent/model.json"}, zerolog.Nop(), nil); err == nil || !strings.Contains(err.Error(), "model_file") {
		t.Errorf("missing model file: %v", err)
	}
}
