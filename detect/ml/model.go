package ml

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
)

// Model is a logistic regression over the request features: p(bot) =
// sigmoid(bias + Σ weight·feature). It is small enough to read: each
// weight says how much a feature moves the log-odds of automation.
type Model struct {
	// Version names the model (training data and date) for logs.
	Version string `json:"version"`
	// Features are the feature names the weights belong to, in order.
	Features []string  `json:"features"`
	Weights  []float64 `json:"weights"`
	Bias     float64   `json:"bias"`
	// Calibration maps the regression's p(bot) to the share of bots among
	// requests with that value on data the regression was not fitted on
	// (isotonic); empty means the raw value is used.
	Calibration Calibration `json:"calibration,omitempty"`
	// Metrics are the held-out metrics measured when the model was trained.
	Metrics *Metrics `json:"metrics,omitempty"`
}

// Probability returns the calibrated p(bot) for feature vector x.
func (m *Model) Probability(x []float64) float64 {
	return m.Calibration.apply(m.Raw(x))
}

// Raw returns the regression's own p(bot), before calibration.
func (m *Model) Raw(x []float64) float64 {
	z := m.Bias
	for i, w := range m.Weights {
		z += w * x[i]
	}
	return sigmoid(z)
}

// Score returns the 2–99 score of feature vector x.
func (m *Model) Score(x []float64) int { return Score(m.Probability(x)) }

func sigmoid(z float64) float64 {
	if z < -40 {
		return 0
	}
	if z > 40 {
		return 1
	}
	return 1 / (1 + math.Exp(-z))
}

// Score maps p(bot) to the 2–99 ML score range: 99 is surely human, 2 is
// surely automated, and p(bot) above about 0.72 lands below 30.
func Score(pBot float64) int {
	s := 2 + int(math.Round(97*(1-pBot)))
	return max(2, min(99, s))
}

// Validate checks that the model fits the feature extractor of this build:
// its features are this build's, or the 2026.08 prefix of them (such a
// model scores without the context features).
func (m *Model) Validate() error {
	if !slices.Equal(m.Features, featureNames) && !slices.Equal(m.Features, featureNames[:baseFeatures]) {
		return fmt.Errorf("model %q was trained on features %v, this build computes %v", m.Version, m.Features, featureNames)
	}
	if len(m.Weights) != len(m.Features) {
		return fmt.Errorf("model %q: %d weights for %d features", m.Version, len(m.Weights), len(m.Features))
	}
	for i, w := range m.Weights {
		if math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("model %q: weight %s is %v", m.Version, m.Features[i], w)
		}
	}
	if math.IsNaN(m.Bias) || math.IsInf(m.Bias, 0) {
		return fmt.Errorf("model %q: bias is %v", m.Version, m.Bias)
	}
	if err := m.Calibration.validate(); err != nil {
		return fmt.Errorf("model %q: %w", m.Version, err)
	}
	return nil
}

// Save writes the model as indented JSON.
func (m *Model) Save(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	return nil
}

// LoadModel reads and validates a model saved by Save.
func LoadModel(r io.Reader) (*Model, error) {
	var m Model
	dec := json.NewDecoder(io.LimitReader(r, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	return &m, nil
}
