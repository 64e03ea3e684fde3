package github

import "testing"

// TestManifestChecks: the config keys the wire client needs are checked at
// config load (manifest.Field.Check).
func TestManifestChecks(t *testing.T) {
	fields := map[string]func(string) error{}
	for _, f := range Manifest().Fields {
		fields[f.Name] = f.Check
	}
	tests := []struct {
		field, value string
		ok           bool
	}{
		{"api_url", "https://api.github.com", true},
		{"api_url", "https://ghe.example.com/api/v3", true},
		{"api_url", "http://127.0.0.1:9000", true},
		{"api_url", "http://ghe.example.com/api/v3", false},
		{"api_url", "ghe.example.com", false},
		{"app_id", "123456", true},
		{"app_id", "12 34", false},
		{"installation_id", "7654321", true},
		{"installation_id", "76/54", false},
	}
	for _, tt := range tests {
		check := fields[tt.field]
		if check == nil {
			t.Fatalf("%s has no check", tt.field)
		}
		if err := check(tt.value); (err == nil) != tt.ok {
			t.Errorf("%s %q: %v, want ok=%v", tt.field, tt.value, err, tt.ok)
		}
	}
}
