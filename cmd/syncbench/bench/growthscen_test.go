package bench

import "testing"

// TestGrowthOptIn: the growth scenario runs only when named.
func TestGrowthOptIn(t *testing.T) {
	all, err := selectScenarios(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if s.name == "growth" {
			t.Fatal("growth in the default run")
		}
	}
	only, err := selectScenarios([]string{"growth"})
	if err != nil || len(only) != 1 || only[0].name != "growth" {
		t.Fatalf("--only growth: %v %v", only, err)
	}
}

func TestCountLabel(t *testing.T) {
	for n, want := range map[int]string{1000: "10³", 100_000: "10⁵", 1_000_000: "10⁶", 3000: "3000", 10: "10", 1: "1"} {
		if got := countLabel(n); got != want {
			t.Errorf("countLabel(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("10000, 100000")
	if err != nil || len(got) != 2 || got[0] != 10_000 || got[1] != 100_000 {
		t.Fatalf("parseSizes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "10", "1e4", "10000,x"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q) accepted", bad)
		}
	}
}
