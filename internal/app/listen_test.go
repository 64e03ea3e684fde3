package app

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRunFailsAtOnceWhenAPortIsTaken: an address in use fails Run before the
// NATS store is opened or any service starts (the embedded server used to be
// found not ready only after 10 s, the gateway only after everything else had
// started), and the error names the settings that move it.
func TestRunFailsAtOnceWhenAPortIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	_, port, _ := net.SplitHostPort(addr)

	tests := []struct {
		name     string
		config   string // appended to the config file
		environ  []string
		opts     Options
		services []string
		want     []string
	}{
		{name: "nats.listen in config", config: "nats:\n  listen: " + addr + "\n",
			services: []string{ServicePipeline},
			want:     []string{"nats.listen " + addr + " is already in use", "--nats-listen", "STEWARD_NATS_LISTEN"}},
		{name: "STEWARD_NATS_LISTEN", environ: []string{"STEWARD_NATS_LISTEN=" + addr},
			services: []string{ServicePipeline},
			want:     []string{"nats.listen " + addr + " is already in use", "--nats-listen"}},
		{name: "--nats-listen", config: "nats:\n  listen: " + freeAddr(t) + "\n", opts: Options{NATSListen: &addr},
			services: []string{ServicePipeline},
			want:     []string{"nats.listen " + addr + " is already in use", "--nats-listen"}},
		{name: "gateway.listen", config: "nats:\n  listen: \"\"\ngateway:\n  listen: " + addr + "\n",
			services: []string{ServicePipeline, ServiceGateway},
			want:     []string{"gateway.listen " + addr + " is already in use", "--port", "STEWARD_GATEWAY_LISTEN"}},
		{name: "--port", config: "nats:\n  listen: \"\"\n", opts: Options{Port: mustAtoi(t, port)},
			services: []string{ServiceGateway},
			want:     []string{"gateway.listen " + addr + " is already in use", "--port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := tt.opts
			o.ConfigPath = writeConfig(t, dir, tt.config)
			o.Services = tt.services
			o.Logger = quietLog()
			o.Environ = tt.environ
			if o.Environ == nil {
				o.Environ = []string{}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := Run(ctx, o)
			if err == nil {
				t.Fatal("Run started on a taken port")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, serr := os.Stat(filepath.Join(dir, "data", "nats")); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("the NATS store was opened before the port was checked (%v)", serr)
			}
		})
	}
}

// TestNATSListenFlagDisablesTCP: --nats-listen "" overrides nats.listen and
// leaves the embedded server without a TCP listener.
func TestNATSListenFlagDisablesTCP(t *testing.T) {
	dir := t.TempDir()
	none := ""
	info, _, _ := runApp(t, Options{ConfigPath: writeConfig(t, dir, "nats:\n  listen: "+freeAddr(t)+"\n"),
		Services: []string{ServicePipeline}, NATSListen: &none})
	if info.NATSURL != "" {
		t.Fatalf("embedded NATS listens on %s despite --nats-listen \"\"", info.NATSURL)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
