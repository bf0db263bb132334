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
	// MaxHumanFP is the share of training humans allowed below 30 after
	// calibration (default 0.001): the bias is lowered until no more than
	// this share of them scores below 30. False positives cost more than
	// missed bots, which the behavioural engine can still catch.
	MaxHumanFP float64
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
	if o.MaxHumanFP <= 0 {
		o.MaxHumanFP = 0.001
	}
}

// Train reads labelled requests (JSON lines of Example) from r and fits a
// model. This is what `botwarden train` runs.
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
func TrainExamples(examples []Example, opts TrainOptions) (*Model, error) {
	opts.defaults()
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
		ex.features(examples[i].Request(), examples[i].Verdict(), X[i])
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
	model.Bias += calibrationShift(model, X, y, opts.MaxHumanFP)
	if err := model.Validate(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return model, nil
}

// calibrationShift returns the (non-positive) bias change that leaves at
// most maxFP of the training humans with a score below 30.
func calibrationShift(m *Model, X [][]float64, y []float64, maxFP float64) float64 {
	// Score(p) < 30 exactly when p > 1 - 27.5/97.
	pThr := 1 - 27.5/97
	limit := math.Log(pThr / (1 - pThr))
	var z []float64
	for i, x := range X {
		if y[i] == 0 {
			v := m.Bias
			for j, w := range m.Weights {
				v += w * x[j]
			}
			z = append(z, v)
		}
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(z)))
	k := int(maxFP * float64(len(z)))
	if k >= len(z) || z[k] <= limit {
		return 0
	}
	return limit - z[k] - 1e-6
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
		ex.features(examples[i].Request(), examples[i].Verdict(), x)
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
