package client_test

import (
	"context"
	"testing"

	"github.com/stewardhq/steward/integrations/github/client"
	"github.com/stewardhq/steward/internal/testkit/githubfake"
)

// BenchmarkCheckUnchanged measures one "check" of 100 tracked pull requests
// when nothing changed: one search page (conditional or not) and a
// conditional GET per tracked item answered 304. It reports the requests and
// the rate-limit units (non-304 answers) per check.
func BenchmarkCheckUnchanged(b *testing.B) {
	for _, bc := range []struct {
		name        string
		searchETag  bool
		itemETags   bool
		wantReqs    int
		wantCharged int
	}{
		{"search+304s", false, true, 101, 1},
		{"all-conditional", true, true, 101, 0},
		{"no-etags", false, false, 101, 101},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := setup(b, githubfake.WithItems(prs(100)...))
			ctx := context.Background()
			const query = "is:pr is:open review-requested:me"
			res, err := e.client.Search(ctx, query, client.SearchOptions{})
			if err != nil || len(res.Items) != 100 || res.Pages != 1 {
				b.Fatalf("%v %+v", err, res)
			}
			searchETag := res.Meta.ETag
			etags := map[int]string{}
			for _, it := range res.Items {
				_, m, err := e.client.GetPull(ctx, it.Org, it.Repo, it.Number, "")
				if err != nil {
					b.Fatal(err)
				}
				etags[it.Number] = m.ETag
			}
			check := func() (requests, charged int) {
				o := client.SearchOptions{}
				if bc.searchETag {
					o.ETag = searchETag
				}
				r, err := e.client.Search(ctx, query, o)
				if err != nil {
					b.Fatal(err)
				}
				requests += r.Pages
				if !r.Meta.NotModified {
					charged++
				}
				for n := 1; n <= 100; n++ {
					etag := ""
					if bc.itemETags {
						etag = etags[n]
					}
					_, m, err := e.client.GetPull(ctx, "o", "r", n, etag)
					if err != nil {
						b.Fatal(err)
					}
					requests++
					if !m.NotModified {
						charged++
					}
				}
				return requests, charged
			}
			var reqs, charged int
			b.ResetTimer()
			for b.Loop() {
				reqs, charged = check()
			}
			b.StopTimer()
			if reqs != bc.wantReqs || charged != bc.wantCharged {
				b.Fatalf("%d requests, %d charged; want %d, %d", reqs, charged, bc.wantReqs, bc.wantCharged)
			}
			b.ReportMetric(float64(reqs), "requests/check")
			b.ReportMetric(float64(charged), "ratelimit/check")
			if e.fake.Exchanges() != 1 {
				b.Fatalf("%d token exchanges", e.fake.Exchanges())
			}
		})
	}
}
