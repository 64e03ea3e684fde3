package e2e

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkStartup measures `steward run` with the example config: the time from
// process start until GET / answers, and the resident memory after it idles.
func BenchmarkStartup(b *testing.B) {
	var total time.Duration
	var rssKB int
	for i := 0; i < b.N; i++ {
		dir := workDir(b, true)
		began := time.Now()
		p := start(b, dir)
		for {
			resp, err := http.Get(p.gateway + "/")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Since(began) > 30*time.Second {
				b.Fatalf("not healthy:\n%s", p.out.String())
			}
			time.Sleep(2 * time.Millisecond)
		}
		total += time.Since(began)
		time.Sleep(3 * time.Second) // idle
		rssKB = vmRSS(b, p.cmd.Process.Pid)
		if code := p.stop(b); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms_to_healthy")
	b.ReportMetric(float64(rssKB)/1024, "idle_rss_MB")
}

func vmRSS(b *testing.B, pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
