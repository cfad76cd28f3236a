package results

import (
	"math"
	"sort"
)

// Median returns the median of xs (mean of the two middle values for even n); NaN if empty.
func Median(xs []float64) float64 { return Quantile(xs, 0.5) }

// Quantile returns the q-quantile of xs by linear interpolation between order statistics
// (Hyndman & Fan type 7, the R and NumPy default); NaN if empty.
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := sorted(xs)
	h := q * float64(len(s)-1)
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (h-lo)*(s[i+1]-s[i])
}

// Summary returns the Range (n, min, quartiles, median, max) of xs.
func Summary(xs []float64) Range {
	if len(xs) == 0 {
		return Range{}
	}
	s := sorted(xs)
	return Range{N: len(s), Min: s[0], Q1: Quantile(s, 0.25), Median: Quantile(s, 0.5),
		Q3: Quantile(s, 0.75), Max: s[len(s)-1]}
}

// IQR is the interquartile range Q3-Q1.
func (r Range) IQR() float64 { return r.Q3 - r.Q1 }

func sorted(xs []float64) []float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s
}
