package ml

import (
	"fmt"
	"io"
	"math"
	"sort"
)

// TrainOptions tune training; the zero value uses the defaults.
type TrainOptions struct {
	// Epochs of full-batch gradient descent (default 400).
	Epochs int
	// LearningRate of the Adam optimiser (default 0.05).
	LearningRate float64
	// L2 regularisation strength (default 1e-4).
	L2 float64
	// Version is recorded in the model.
	Version string
	// Calibration are labelled examples the regression is not fitted on,
	// used to fit its calibration (Calibration). Empty: every fifth
	// example is set aside for it.
	Calibration []Example
}

func (o *TrainOptions) defaults() {
	if o.Epochs <= 0 {
		o.Epochs = 400
	}
	if o.LearningRate <= 0 {
		o.LearningRate = 0.05
	}
	if o.L2 <= 0 {
		o.L2 = 1e-4
	}
	if o.Version == "" {
		o.Version = "custom"
	}
}

// Train reads labelled requests (JSON lines of Example) from r and fits a
// model, calibrated on every fifth of them. This is what `botwarden train`
// runs.
func Train(r io.Reader, opts TrainOptions) (*Model, error) {
	examples, err := ReadExamples(r)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return TrainExamples(examples, opts)
}

// TrainExamples fits a logistic regression on examples: classes are
// weighted to balance, weights are L2-regularised, optimised with Adam on
// the full batch (deterministic: same data, same model).
//
// The model is then calibrated (fitIsotonic) on opts.Calibration, each
// class weighted to half: its probabilities are the share of bots among
// such requests when bots and people are equally many. A deployment with
// another mix shifts every band the same way; the order stays.
func TrainExamples(examples []Example, opts TrainOptions) (*Model, error) {
	opts.defaults()
	if len(opts.Calibration) == 0 {
		var fit []Example
		for i := range examples {
			if i%5 == 4 {
				opts.Calibration = append(opts.Calibration, examples[i])
			} else {
				fit = append(fit, examples[i])
			}
		}
		examples = fit
	}
	var bots, humans int
	for i := range examples {
		if examples[i].Bot() {
			bots++
		} else {
			humans++
		}
	}
	if bots == 0 || humans == 0 {
		return nil, fmt.Errorf("train: need both labels, have %d bot and %d human examples", bots, humans)
	}
	ex, err := newExtractor()
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	X := make([][]float64, len(examples))
	y := make([]float64, len(examples))
	sw := make([]float64, len(examples))
	for i := range examples {
		X[i] = make([]float64, NumFeatures)
		ex.features(examples[i].Request(), examples[i].Verdict(), examples[i].Context(), X[i])
		if examples[i].Bot() {
			y[i], sw[i] = 1, float64(len(examples))/(2*float64(bots))
		} else {
			sw[i] = float64(len(examples)) / (2 * float64(humans))
		}
	}
	n := float64(len(examples))
	w := make([]float64, NumFeatures+1) // last is the bias
	g := make([]float64, len(w))
	m1 := make([]float64, len(w))
	m2 := make([]float64, len(w))
	const beta1, beta2, eps = 0.9, 0.999, 1e-8
	for epoch := 1; epoch <= opts.Epochs; epoch++ {
		clear(g)
		for i, x := range X {
			z := w[NumFeatures]
			for j, v := range x {
				z += w[j] * v
			}
			d := (sigmoid(z) - y[i]) * sw[i]
			for j, v := range x {
				if v != 0 {
					g[j] += d * v
				}
			}
			g[NumFeatures] += d
		}
		for j := range g {
			g[j] /= n
			if j < NumFeatures {
				g[j] += opts.L2 * w[j]
			}
			m1[j] = beta1*m1[j] + (1-beta1)*g[j]
			m2[j] = beta2*m2[j] + (1-beta2)*g[j]*g[j]
			mh := m1[j] / (1 - math.Pow(beta1, float64(epoch)))
			vh := m2[j] / (1 - math.Pow(beta2, float64(epoch)))
			w[j] -= opts.LearningRate * mh / (math.Sqrt(vh) + eps)
		}
	}
	model := &Model{Version: opts.Version, Features: FeatureNames(), Weights: w[:NumFeatures], Bias: w[NumFeatures]}
	cal, err := calibrate(model, ex, opts.Calibration)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	model.Calibration = cal
	if err := model.Validate(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return model, nil
}

// calibrate fits m's calibration on examples, classes weighted equally.
func calibrate(m *Model, ex *extractor, examples []Example) (Calibration, error) {
	var bots, humans float64
	for i := range examples {
		if examples[i].Bot() {
			bots++
		} else {
			humans++
		}
	}
	if bots == 0 || humans == 0 {
		return Calibration{}, fmt.Errorf("calibration needs both labels, have %v bot and %v human examples", bots, humans)
	}
	p := make([]float64, len(examples))
	y := make([]float64, len(examples))
	w := make([]float64, len(examples))
	x := make([]float64, NumFeatures)
	for i := range examples {
		ex.features(examples[i].Request(), examples[i].Verdict(), examples[i].Context(), x)
		p[i] = m.Raw(x)
		if examples[i].Bot() {
			y[i], w[i] = 1, 0.5/bots
		} else {
			w[i] = 0.5 / humans
		}
	}
	return fitIsotonic(p, y, w), nil
}

// Metrics are a model's figures on a labelled set.
type Metrics struct {
	Examples int `json:"examples"`
	Bots     int `json:"bots"`
	Humans   int `json:"humans"`
	// AUC is the area under the ROC curve of p(bot).
	AUC float64 `json:"auc"`
	// At30 are precision and recall of "bot" for score < 30.
	PrecisionAt30 float64 `json:"precision_at_30"`
	RecallAt30    float64 `json:"recall_at_30"`
	// HumanBelow30 is the share of human examples scored below 30.
	HumanBelow30 float64 `json:"human_below_30"`
}

// Evaluate computes metrics of m on examples (features only, without the
// heuristics engine in front).
func Evaluate(m *Model, examples []Example) (Metrics, error) {
	ex, err := newExtractor()
	if err != nil {
		return Metrics{}, err
	}
	type scored struct {
		p   float64
		bot bool
	}
	s := make([]scored, len(examples))
	x := make([]float64, NumFeatures)
	var met Metrics
	var tp, fp int
	for i := range examples {
		ex.features(examples[i].Request(), examples[i].Verdict(), examples[i].Context(), x)
		p := m.Probability(x)
		bot := examples[i].Bot()
		s[i] = scored{p, bot}
		if bot {
			met.Bots++
		} else {
			met.Humans++
		}
		if Score(p) < 30 {
			if bot {
				tp++
			} else {
				fp++
			}
		}
	}
	met.Examples = len(examples)
	if tp+fp > 0 {
		met.PrecisionAt30 = float64(tp) / float64(tp+fp)
	}
	if met.Bots > 0 {
		met.RecallAt30 = float64(tp) / float64(met.Bots)
	}
	if met.Humans > 0 {
		met.HumanBelow30 = float64(fp) / float64(met.Humans)
	}
	// AUC by the rank-sum (Mann-Whitney) formula, ties counted half.
	sort.Slice(s, func(a, b int) bool { return s[a].p < s[b].p })
	var rankSum float64
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j].p == s[i].p {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks are 1-based
		for k := i; k < j; k++ {
			if s[k].bot {
				rankSum += avg
			}
		}
		i = j
	}
	if met.Bots > 0 && met.Humans > 0 {
		nb, nh := float64(met.Bots), float64(met.Humans)
		met.AUC = (rankSum - nb*(nb+1)/2) / (nb * nh)
	}
	return met, nil
}
